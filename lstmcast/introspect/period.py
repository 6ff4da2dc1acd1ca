"""The windows of an inspected period recorded with their gates, reduced as they stream past: each window's state
at its last step (the state its forecast is made from), the forecasts in the user's units, and the saturation
counts over every step. Shape legend: N windows, L layers, P output units, U hidden_size, K horizon steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from torch import nn

from lstmcast.introspect import check
from lstmcast.introspect.arrays import Context, chunk_arrays
from lstmcast.introspect.gates import GATES
from lstmcast.introspect.record import record_chunks
from lstmcast.introspect.saturation import Saturation


@dataclass
class PeriodStates:
    rows: np.ndarray  # [N] each window's last row
    dates: np.ndarray  # [N] datetime64: its date (the forecast origin)
    h: np.ndarray  # [N, L, P]
    c: np.ndarray  # [N, L, U]
    gates: dict[str, np.ndarray]  # i, f, g, o -> [N, L, U] at the last step
    prediction: np.ndarray  # [N, K] user units
    target: np.ndarray  # [N, K] user units, NaN past the data
    saturation: Saturation
    checks: dict[str, float] = field(default_factory=dict)  # largest differences from the fused call
    decoder_saturation: Optional[Saturation] = None  # seq2seq: the decoder's, over every horizon step


def record_period(model: nn.Module, context: Context, rows: np.ndarray, *, chunk: int = 256,
                  on_progress: Callable[[int, int], None] = lambda done, total: None) -> PeriodStates:
    """Record the windows ending at `rows` (with gates), checking the first and last chunk against nn.LSTM's own
    output/h_n/c_n and the gates against the recorded states."""
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    saturation, decoder, parts, checks = Saturation(), Saturation(), {}, {}
    recorded = record_chunks(model, (context.windows(part) for part in chunks), gates=True)
    for index, (part, item) in enumerate(zip(chunks, recorded)):
        if index in (0, len(chunks) - 1):
            checks = check.worst(checks, check.check_recorded(model, item.x, item.recording, gates=True, stream=False))
        arrays = chunk_arrays(item.recording, part, np.ones(len(part), dtype=bool), context)
        saturation.add(arrays["h"], arrays["c"], {name: arrays[f"gate_{name}"] for name in GATES})
        if "decoder_h" in arrays:
            decoder.add(arrays["decoder_h"], arrays["decoder_c"],
                        {name: arrays[f"decoder_gate_{name}"] for name in GATES})
        last = {"h": arrays["h"][:, -1], "c": arrays["c"][:, -1], "prediction": arrays["prediction"],
                "target": arrays["target"], "dates": arrays["origin_date"]}
        last |= {f"gate_{name}": arrays[f"gate_{name}"][:, -1] for name in GATES}
        for key, value in last.items():
            parts.setdefault(key, []).append(value.copy())
        on_progress(index + 1, len(chunks))
    joined = {key: np.concatenate(value) for key, value in parts.items()}
    return PeriodStates(rows, joined["dates"], joined["h"], joined["c"],
                        {name: joined[f"gate_{name}"] for name in GATES}, joined["prediction"], joined["target"],
                        saturation, checks, decoder if decoder.steps else None)
