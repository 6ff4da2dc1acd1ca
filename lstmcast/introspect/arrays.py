"""A chunk's recording laid out as the dump's named arrays (numpy, on the host), beside the dates, inputs,
predictions in the user's units and the true targets where the data has them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lstmcast.data.calendar import Calendar, gap_notice
from lstmcast.data.transforms import invert_target
from lstmcast.data.windows import Prepared
from lstmcast.introspect.record import Recording


@dataclass(frozen=True)
class Context:
    """The prepared series a dump is recorded from, with what every chunk needs precomputed once."""

    prepared: Prepared
    dates: np.ndarray  # [M + K] datetime64[s]: the rows' dates, then the next K dates on the model's calendar
    values: torch.Tensor  # [M, F] the scaled inputs, float32 (windows are views into it)
    stream: bool

    @classmethod
    def build(cls, prepared: Prepared, following: pd.DatetimeIndex, *, stream: bool) -> "Context":
        dates = np.concatenate([prepared.dates.to_numpy(), following.to_numpy()]).astype("datetime64[s]")
        return cls(prepared, dates, prepared.tensor(), stream)

    @property
    def lookback(self) -> int:
        return self.prepared.lookback

    @property
    def rows(self) -> int:
        return len(self.prepared.dates)

    def windows(self, ends: np.ndarray) -> torch.Tensor:
        return self.prepared.windows(ends)[0]

    def gap_notice(self, ends: np.ndarray, calendar: Calendar, *, what: str) -> list[str]:
        """The gaps in the rows the windows ending at `ends` read (a stream: every row up to the last), as a notice."""
        first = 0 if self.stream else max(int(ends[0]) - self.lookback + 1, 0)
        return gap_notice(self.prepared.dates[first : int(ends[-1]) + 1], calendar, what=what)


def chunk_arrays(recording: Recording, rows: np.ndarray, keep: np.ndarray, context: Context) -> dict[str, np.ndarray]:
    """The arrays of the rows `rows[keep]` (window ends, or stream steps) of one recorded chunk."""
    prepared, stream = context.prepared, context.stream
    horizon = recording.prediction_scaled.shape[1]
    ends = rows[keep]
    ahead = ends[:, None] + np.arange(1, horizon + 1)[None, :]
    steps = ends[None, :] if stream else ends[:, None] - prepared.lookback + 1 + np.arange(prepared.lookback)[None, :]
    pick = torch.from_numpy(np.flatnonzero(keep))
    scaled = _host(recording.prediction_scaled[pick]).astype(np.float64)
    target = prepared.raw[:, 0]
    arrays = {
        "h": _host(_select(recording.encoder.h, pick, stream)), "c": _host(_select(recording.encoder.c, pick, stream)),
        "step_date": context.dates[steps],
        "inputs_raw": prepared.raw[steps],
        "inputs_scaled": prepared.scaled[:, : len(prepared.columns)][steps],  # the values (covariates aside)
        "prediction_scaled": scaled.astype(np.float32),
        "prediction": invert_target(scaled, target[ends], kind=prepared.transforms[0],
                                    center=float(prepared.scaler.center[0]), scale=float(prepared.scaler.scale[0])),
        "target_scaled": _ahead(prepared.scaled[:, 0], ahead),
        "target": _ahead(target, ahead),
        "target_date": context.dates[ahead],
        "head_input": _host(recording.head_input[pick]),
    }
    for name, value in recording.encoder.gates.items():
        arrays[f"gate_{name}"] = _host(_select(value, pick, stream))
    if recording.decoder is not None:
        arrays["decoder_h"], arrays["decoder_c"] = _host(recording.decoder.h[pick]), _host(recording.decoder.c[pick])
        arrays["decoder_input"] = _host(recording.decoder_input[pick])
        for name, value in recording.decoder.gates.items():
            arrays[f"decoder_gate_{name}"] = _host(value[pick])
    if stream:  # one window: the per-origin arrays gain their leading window axis
        return {k: (v if k in ("h", "c", "step_date", "inputs_raw", "inputs_scaled") or k.startswith("gate_")
                    else v[None]) for k, v in arrays.items()}
    arrays["origin_date"] = context.dates[ends]
    return arrays


def _select(states: torch.Tensor, pick: torch.Tensor, stream: bool) -> torch.Tensor:
    """Encoder arrays [W, T, ...]: windows mode picks windows; stream mode ([1, M, ...]) picks steps."""
    return states[:, pick] if stream else states[pick]


def _ahead(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values at the target rows, NaN past the end of the data."""
    padded = np.concatenate([values, np.full(index.shape[1], np.nan, dtype=values.dtype)])
    return padded[index]


def _host(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()
