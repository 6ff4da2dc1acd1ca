"""Scores of probabilistic forecasts (numpy and scipy only): CRPS from a Gaussian, from samples or from quantiles,
pinball loss, interval coverage, width and Winkler score, and the probability integral transform with a uniformity
test. Every function works elementwise over any leading axes (origins, horizon steps)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def crps_gaussian(mean: np.ndarray, std: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of N(mean, std^2) at y, in closed form (Gneiting & Raftery 2007, eq. 21)."""
    std = np.asarray(std, dtype=np.float64)
    z = (np.asarray(y, dtype=np.float64) - mean) / std
    return std * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def crps_samples(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of the empirical distribution of `samples` (last axis) at y: E|X - y| - E|X - X'| / 2, with
    E|X - X'| from the sorted samples in O(S log S) (the same estimator as properscoring's crps_ensemble)."""
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=-1)
    count = x.shape[-1]
    to_y = np.abs(x - np.asarray(y, dtype=np.float64)[..., None]).mean(axis=-1)
    weights = 2 * np.arange(1, count + 1) - count - 1  # sum_{i,j} |x_i - x_j| = 2 * sum_i (2i - S - 1) x_(i)
    spread = 2 * (x * weights).sum(axis=-1) / count**2
    return to_y - spread / 2


def pinball(levels: np.ndarray, quantiles: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pinball (quantile) loss of each level's quantile (last axis) at y: max(tau (y - q), (tau - 1)(y - q))."""
    gap = np.asarray(y, dtype=np.float64)[..., None] - quantiles
    tau = np.asarray(levels, dtype=np.float64)
    return np.maximum(tau * gap, (tau - 1) * gap)


def crps_quantiles(levels: np.ndarray, quantiles: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS approximated from quantiles: twice the mean pinball loss over evenly spread levels (exact as the levels
    fill (0, 1); Gneiting & Raftery 2007, eq. 23)."""
    return 2 * pinball(levels, quantiles, y).mean(axis=-1)


def coverage(lower: np.ndarray, upper: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 where y lies in [lower, upper], else 0."""
    return ((y >= lower) & (y <= upper)).astype(np.float64)


def winkler(lower: np.ndarray, upper: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Interval score of a central (1 - alpha) interval: its width, plus 2/alpha times the distance by which y
    falls outside it (Gneiting & Raftery 2007, eq. 43)."""
    below = np.clip(lower - y, 0, None)
    above = np.clip(y - upper, 0, None)
    return (upper - lower) + (2 / alpha) * (below + above)


def pit_from_samples(samples: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probability integral transform: the share of samples below y, randomised within ties so a calibrated forecast
    gives uniform values even for a discrete sample set."""
    x = np.asarray(samples, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64)[..., None]
    below, equal = (x < target).mean(axis=-1), (x == target).mean(axis=-1)
    return below + rng.uniform(size=below.shape) * equal


def pit_uniformity(pit: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Counts per bin and the chi-square test of uniformity (p-value; small means miscalibrated)."""
    values = np.asarray(pit, dtype=np.float64).ravel()
    counts, _ = np.histogram(values, bins=bins, range=(0.0, 1.0))
    test = stats.chisquare(counts)
    return {"statistic": float(test.statistic), "p_value": float(test.pvalue), "count": int(values.size),
            "histogram": counts.tolist()}
