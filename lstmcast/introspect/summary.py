"""Per-layer summaries of a dump, accumulated chunk by chunk in bounded memory: mean |h|, saturation, the mean forget
gate and the memory half-life it implies, and the units whose h is most correlated with the scaled target input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

SATURATED = 0.95  # |h| or |tanh(c)| above this counts as saturated


@dataclass
class LayerSummary:
    layer: int
    phase: str
    h_units: int
    c_units: int
    mean_abs_h: float
    saturated: float  # share of (step, unit) values with |h| or |tanh(c)| > 0.95
    mean_forget: Optional[float] = None
    half_life: Optional[float] = None  # steps for c to halve under the mean forget gate: ln 0.5 / ln f
    top_units: list[tuple[int, float]] = field(default_factory=list)  # (unit, correlation of h with the input)


class Moments:
    """Streaming sums for one layer and phase."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, Any] = {}

    def add(self, name: str, value: Any) -> None:
        self.sums[name] = self.sums.get(name, 0) + value

    def update(self, h: np.ndarray, c: np.ndarray, x: np.ndarray, forget: Optional[np.ndarray]) -> None:
        """h [..., P], c [..., U] and x [...] (the scaled input at the same positions) for one layer."""
        h2, x2 = h.reshape(-1, h.shape[-1]).astype(np.float64), x.reshape(-1).astype(np.float64)
        self.n += len(x2)
        self.add("abs_h", np.abs(h2).sum())
        self.add("saturated", (np.abs(h) > SATURATED).sum() + (np.abs(np.tanh(c)) > SATURATED).sum())
        self.add("cells", h.size + c.size)
        self.add("h", h2.sum(0))
        self.add("hh", (h2 * h2).sum(0))
        self.add("x", x2.sum())
        self.add("xx", (x2 * x2).sum())
        self.add("xh", x2 @ h2)
        if forget is not None:
            self.add("forget", forget.astype(np.float64).sum())
            self.add("forget_n", forget.size)

    def summary(self, layer: int, phase: str, h_units: int, c_units: int) -> LayerSummary:
        s, n = self.sums, max(self.n, 1)
        covariance = s["xh"] / n - (s["x"] / n) * (s["h"] / n)
        spread = np.sqrt(np.maximum(s["hh"] / n - (s["h"] / n) ** 2, 0) * max(s["xx"] / n - (s["x"] / n) ** 2, 0))
        correlation = np.divide(covariance, spread, out=np.zeros_like(covariance), where=spread > 0)
        top = [(int(u), float(correlation[u])) for u in np.argsort(-np.abs(correlation))[:3]]
        forget = float(s["forget"] / s["forget_n"]) if "forget" in s else None
        half_life = float(np.log(0.5) / np.log(forget)) if forget is not None and 0 < forget < 1 else None
        return LayerSummary(layer, phase, h_units, c_units, float(s["abs_h"] / (n * h_units)),
                            float(s["saturated"] / s["cells"]), forget, half_life, top)


class Summaries:
    """Moments for every (phase, layer) of a dump, fed the dump's arrays chunk by chunk."""

    def __init__(self, layers: int, *, decoder: bool) -> None:
        phases = ("encoder", "decoder") if decoder else ("encoder",)
        self.moments = {(phase, layer): Moments() for phase in phases for layer in range(layers)}

    def update(self, arrays: dict[str, np.ndarray]) -> None:
        x = arrays["inputs_scaled"][..., 0]
        for (phase, layer), moment in self.moments.items():
            prefix = "" if phase == "encoder" else "decoder_"
            forget = arrays.get(f"{prefix}gate_f")
            moment.update(arrays[f"{prefix}h"][..., layer, :], arrays[f"{prefix}c"][..., layer, :],
                          x if phase == "encoder" else arrays["decoder_input"],
                          None if forget is None else forget[..., layer, :])

    def result(self, h_units: int, c_units: int) -> list[LayerSummary]:
        return [m.summary(layer, phase, h_units, c_units) for (phase, layer), m in self.moments.items()]


class PlotSamples:
    """What --plot draws, at no more than `points` evenly spaced dates: each window's last-step states and, with
    --gates, its forget and input gates (or the stream's), and the one-step forecasts. Copies, not views (a view
    would keep its whole chunk alive)."""

    KEYS = ("dates", "last_h", "last_c", "prediction", "actual", "last_f", "last_i")

    def __init__(self, total: int, *, wanted: bool, points: int = 2000) -> None:
        self.stride, self.wanted, self.seen = max(1, -(-total // points)), wanted, 0
        self.parts: dict[str, list[np.ndarray]] = {key: [] for key in self.KEYS}

    def add(self, arrays: dict[str, np.ndarray], stream: bool) -> None:
        if not self.wanted:
            return
        if stream:
            picks = {"dates": arrays["step_date"][0], "last_h": arrays["h"][0], "last_c": arrays["c"][0],
                     "prediction": arrays["prediction"][0, :, 0], "actual": arrays["target"][0, :, 0]}
            picks |= {f"last_{g}": arrays[f"gate_{g}"][0] for g in "fi" if f"gate_{g}" in arrays}
        else:
            picks = {"dates": arrays["origin_date"], "last_h": arrays["h"][:, -1], "last_c": arrays["c"][:, -1],
                     "prediction": arrays["prediction"][:, 0], "actual": arrays["target"][:, 0]}
            picks |= {f"last_{g}": arrays[f"gate_{g}"][:, -1] for g in "fi" if f"gate_{g}" in arrays}
        keep = (self.seen + np.arange(len(picks["dates"]))) % self.stride == 0
        self.seen += len(picks["dates"])
        for key, value in picks.items():
            self.parts[key].append(value[keep].copy())

    def result(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate(parts) if parts else np.zeros(0) for key, parts in self.parts.items()}
