"""How saturated each unit's gates and states are, and how long its cell remembers.

Gate saturation after Karpathy, Johnson & Fei-Fei (2015), "Visualizing and understanding recurrent networks": the
share of steps at which a sigmoid gate is left-saturated (below 0.1: nearly closed) or right-saturated (above 0.9:
nearly open). The g gate is a tanh candidate value, not a gate, and is left out, as they did.

Shape legend: W windows, T steps, L layers, U hidden_size, P output units (h)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from lstmcast.introspect.summary import SATURATED  # |h| or |tanh(c)| above this: the dump summary's threshold

LEFT, RIGHT = 0.1, 0.9
SIGMOID_GATES = ("i", "f", "o")
NEVER = np.inf  # the half-life of a unit whose forget gate is 1 at every step (to float precision)


class Saturation:
    """Counts over every step of every recorded window, added chunk by chunk (so memory does not grow with the
    period): per (layer, unit), how often each sigmoid gate is saturated, the sum of ln f, and how often |h| and
    |tanh(c)| exceed 0.95."""

    def __init__(self) -> None:
        self.steps = 0
        self.sums: dict[str, np.ndarray] = {}

    def _add(self, name: str, value: np.ndarray) -> None:
        self.sums[name] = self.sums.get(name, 0) + value

    def add(self, h: np.ndarray, c: np.ndarray, gates: Mapping[str, np.ndarray]) -> None:
        """h [W, T, L, P], c [W, T, L, U], gates name -> [W, T, L, U]."""
        layers = c.shape[2]
        self.steps += c.shape[0] * c.shape[1]
        for name in SIGMOID_GATES:
            flat = gates[name].reshape(-1, layers, c.shape[3])
            self._add(f"{name}_left", (flat < LEFT).sum(0))
            self._add(f"{name}_right", (flat > RIGHT).sum(0))
        forget = gates["f"].reshape(-1, layers, c.shape[3]).astype(np.float64)
        self._add("log_f", np.log(np.clip(forget, np.finfo(np.float64).tiny, 1.0)).sum(0))
        self._add("f", forget.sum(0))
        self._add("c_saturated", (np.abs(np.tanh(c.reshape(-1, layers, c.shape[3]))) > SATURATED).sum(0))
        self._add("h_saturated", (np.abs(h.reshape(-1, layers, h.shape[3])) > SATURATED).sum(0))

    def gates(self) -> pd.DataFrame:
        """One row per (layer, gate, unit): the share of steps left- and right-saturated."""
        rows = []
        for name in SIGMOID_GATES:
            left, right = self.sums[f"{name}_left"] / self.steps, self.sums[f"{name}_right"] / self.steps
            for layer in range(left.shape[0]):
                rows.append(pd.DataFrame({"layer": layer, "gate": name, "unit": np.arange(left.shape[1]),
                                          "left_saturated": left[layer], "right_saturated": right[layer]}))
        return pd.concat(rows, ignore_index=True)

    def half_lives(self) -> np.ndarray:
        """[L, U] steps for each unit's cell to halve under its own forget gates: ln 0.5 / mean(ln f) (the cell
        decays by the product of its forget gates, so the mean of the logs is the per-step rate); inf when f is 1."""
        rate = self.sums["log_f"] / self.steps
        with np.errstate(divide="ignore"):
            return np.where(rate < 0, np.log(0.5) / np.minimum(rate, -np.finfo(np.float64).tiny), NEVER)

    def units(self) -> pd.DataFrame:
        """Per (layer, unit of c): the mean forget gate, the half-life, and the shares of steps with |tanh(c)| (and,
        without proj_size, |h|) above 0.95."""
        layers, units = self.sums["f"].shape
        table = pd.DataFrame({
            "layer": np.repeat(np.arange(layers), units), "unit": np.tile(np.arange(units), layers),
            "forget_mean": (self.sums["f"] / self.steps).ravel(), "half_life": self.half_lives().ravel(),
            "c_saturated": (self.sums["c_saturated"] / self.steps).ravel(),
        })
        if self.sums["h_saturated"].shape[1] == units:
            table["h_saturated"] = (self.sums["h_saturated"] / self.steps).ravel()
        return table

    def h_saturated(self) -> np.ndarray:
        """[L, P] share of steps with |h| > 0.95 (with proj_size, h is a projection and not bounded by 1)."""
        return self.sums["h_saturated"] / self.steps
