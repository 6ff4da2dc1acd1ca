"""Linear probes: how well a ridge regression reads a named quantity off the states, on rows it was not fitted on.

A probe is fitted on the training split's origins (its penalty chosen on their last fifth, in time order) and scored
by R^2 on the inspected origins. The same probe on a randomly initialised LSTM's states and on the raw input window
gives the controls: a probe's R^2 means something only by how much it beats them (selectivity, after Hewitt & Liang
2019, "Designing and interpreting probes with control tasks"). Shape legend: N origins, D features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

PENALTIES = np.logspace(-3, 3, 13)  # ridge penalties tried, times the number of fitting rows
TUNING_SHARE = 0.2  # the last fifth of the fitting rows chooses the penalty


@dataclass(frozen=True)
class Probe:
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    penalty: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.center) / self.scale) @ self.weights + self.intercept


def _ridge(x: np.ndarray, y: np.ndarray, penalties: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Ridge weights on standardised x for each penalty, from one SVD."""
    mean_y = y.mean()
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    uy = u.T @ (y - mean_y)
    return [(vt.T @ (s / (s * s + penalty) * uy), float(mean_y)) for penalty in penalties]


def fit_probe(x: np.ndarray, y: np.ndarray) -> Probe:
    """Ridge from x [N, D] to y [N] (rows with a finite y), the penalty chosen on the last fifth of the rows."""
    keep = np.isfinite(y)
    x, y = x[keep].astype(np.float64), y[keep].astype(np.float64)
    if len(y) < 10:
        raise ValueError("a probe needs at least 10 rows where the quantity is defined")
    cut = int(len(y) * (1 - TUNING_SHARE))
    center, scale = x[:cut].mean(0), x[:cut].std(0)
    scale = np.where(scale > 0, scale, 1.0)
    fitted = _ridge((x[:cut] - center) / scale, y[:cut], PENALTIES * cut)
    errors = [np.mean((((x[cut:] - center) / scale) @ w + b - y[cut:]) ** 2) for w, b in fitted]
    penalty = float(PENALTIES[int(np.argmin(errors))])
    center, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    (weights, intercept), = _ridge((x - center) / scale, y, np.array([penalty * len(y)]))
    return Probe(center, scale, weights, intercept, penalty)


def r_squared(probe: Probe, x: np.ndarray, y: np.ndarray) -> float:
    """Held-out R^2: 1 - SSE / SST about the held-out mean (negative when worse than that mean)."""
    keep = np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    y = y[keep]
    residual = probe.predict(x[keep].astype(np.float64)) - y
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - (residual @ residual) / total) if total > 0 else float("nan")


def probe_table(fit: Mapping[str, Mapping[str, np.ndarray]], held: Mapping[str, Mapping[str, np.ndarray]],
                fit_targets: Mapping[str, np.ndarray], held_targets: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """fit/held: source ("trained", "random_lstm", "raw_window") -> feature set ("h layer 0", ...) -> [N, D]; the raw
    window has one feature set ("window"), used as the control of every state. One row per state and quantity."""
    rows = []
    window = {name: fit_probe(fit["raw_window"]["window"], target) for name, target in fit_targets.items()}
    for state in fit["trained"]:
        for name, target in fit_targets.items():
            trained = fit_probe(fit["trained"][state], target)
            random = fit_probe(fit["random_lstm"][state], target)
            row = {"state": state, "quantity": name,
                   "r2": r_squared(trained, held["trained"][state], held_targets[name]),
                   "random_lstm_r2": r_squared(random, held["random_lstm"][state], held_targets[name]),
                   "raw_window_r2": r_squared(window[name], held["raw_window"]["window"], held_targets[name]),
                   "penalty": trained.penalty}
            row["selectivity"] = row["r2"] - max(row["random_lstm_r2"], row["raw_window_r2"])
            rows.append(row)
    return pd.DataFrame(rows)
