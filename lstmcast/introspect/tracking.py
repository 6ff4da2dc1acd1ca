"""What units track: the correlation of each unit's state with each named quantity, beside the same statistic for
two controls, so that a high correlation means something: a randomly initialised LSTM of the same shape fed the same
windows (what the architecture gives for free) and the raw input window itself (what needs no LSTM at all).

Each figure is the largest |Pearson r| over units (or over the window's inputs), on the rows where the quantity is
defined. The largest of many correlations is biased upward; the controls share that bias, which is why they are
there. Shape legend: N origins, D features."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage


def correlations(features: np.ndarray, quantity: np.ndarray) -> np.ndarray:
    """Pearson r of each feature column [N, D] with the quantity [N], on the rows where the quantity is finite; 0 for
    a constant column."""
    keep = np.isfinite(quantity)
    x, y = features[keep].astype(np.float64), quantity[keep].astype(np.float64)
    if len(y) < 3:
        return np.full(features.shape[1], np.nan)
    x, y = x - x.mean(0), y - y.mean()
    spread = np.sqrt((x * x).sum(0) * (y @ y))
    return np.divide(x.T @ y, spread, out=np.zeros(x.shape[1]), where=spread > 0)


def tracking_table(trained: Mapping[str, np.ndarray], random: Mapping[str, np.ndarray], window: np.ndarray,
                   quantities: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """trained and random: state name ("h layer 0", ...) -> [N, units]; window: [N, T*F] the raw input window.
    Returns (summary: one row per state and quantity with the best unit, its r, and both controls' best |r|;
    per_unit: every unit's r with every quantity)."""
    best_window = {name: float(np.nanmax(np.abs(correlations(window, q)))) for name, q in quantities.items()}
    rows, units = [], []
    for state, values in trained.items():
        for name, quantity in quantities.items():
            r = correlations(values, quantity)
            top = int(np.nanargmax(np.abs(r)))
            rows.append({"state": state, "quantity": name, "best_unit": top, "r": float(r[top]),
                         "abs_r": float(abs(r[top])),
                         "random_lstm_abs_r": float(np.nanmax(np.abs(correlations(random[state], quantity)))),
                         "raw_window_abs_r": best_window[name], "rows": int(np.isfinite(quantity).sum())})
            units.append(pd.DataFrame({"state": state, "quantity": name, "unit": np.arange(len(r)), "r": r}))
    summary = pd.DataFrame(rows)
    summary["beats_controls"] = summary["abs_r"] > summary[["random_lstm_abs_r", "raw_window_abs_r"]].max(axis=1)
    return summary, pd.concat(units, ignore_index=True)


def cluster_order(values: np.ndarray) -> np.ndarray:
    """An order of the columns of values [N, D] that puts units with similar trajectories next to each other
    (average-linkage clustering on correlation distance, leaves in optimal order), for heatmaps."""
    if values.shape[1] < 3:
        return np.arange(values.shape[1])
    centred = values - values.mean(0)
    spread = np.linalg.norm(centred, axis=0)
    normal = np.divide(centred, spread, out=np.zeros_like(centred, dtype=np.float64), where=spread > 0)
    distance = np.clip(1 - normal.T @ normal, 0, 2)
    condensed = distance[np.triu_indices(len(distance), 1)]
    return leaves_list(linkage(condensed, method="average", optimal_ordering=True))
