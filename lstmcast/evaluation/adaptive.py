"""Adaptive conformal intervals along walk-forward origins (numpy only): each horizon step's half-width moves with
the misses realised so far, so coverage holds when volatility changes where split conformal's does not. Two update
rules, both after every realised error (an h-step error becomes known h rows after its origin):

- "tracking" (the default): quantile tracking of the log score (Angelopoulos, Candes & Tibshirani 2023, applied to
  log |residual|): a miss widens the interval by exp(gamma (1 - alpha)), a hit narrows it by exp(-gamma alpha). The
  step is relative, so it suits a price whose errors double in a crisis and a CPI whose errors are tiny alike, and the
  interval is never unbounded once started; over T updates the miss rate is within (B + gamma) / (gamma T) of alpha,
  B the range of the log scores.
- "aci" (Gibbs & Candes 2021): the working level alpha_t moves by gamma (alpha - miss), and the interval is the
  (1 - alpha_t) empirical quantile of the latest `window` scores; alpha_t <= 0 makes it unbounded, which on a few
  hundred origins happens often enough to matter."""

from __future__ import annotations

import collections
import math
from typing import Sequence

import numpy as np

from lstmcast.evaluation.conformal import conformal_quantile

METHODS = ("tracking", "aci")
DEFAULT_GAMMA = {"tracking": 0.2, "aci": 0.005}


def adaptive_conformal(forecast: np.ndarray, actual: np.ndarray, origin_rows: np.ndarray, *, alpha: float,
                       method: str = "tracking", gamma: float | None = None, calibration: np.ndarray | None = None,
                       window: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive (1 - alpha) intervals [N, H] (lower, upper) around `forecast` at each walk-forward origin.

    Causal: an origin at row r uses only errors of earlier origins whose k-step target (row + k) is at most r.
    `calibration` [M, H] seeds the scores (e.g. the forecaster's errors before the first origin), so the first
    intervals are not unbounded; only the latest `window` scores are kept (ACI reads its quantile from them;
    tracking starts, or restarts after a zero or unbounded width, from them)."""
    if method not in METHODS:
        raise ValueError(f"unknown adaptive method {method!r}; one of {', '.join(METHODS)}")
    gamma = DEFAULT_GAMMA[method] if gamma is None else gamma
    forecast, actual = np.asarray(forecast, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    lower, upper = np.empty_like(forecast), np.empty_like(forecast)
    for k in range(forecast.shape[1]):
        seed = [] if calibration is None else list(np.abs(calibration[:, k]))
        scores = collections.deque(seed[-window:], maxlen=window)
        rule = (_Tracking if method == "tracking" else _Level)(alpha, gamma, scores)
        half = _half_widths(forecast[:, k], actual[:, k], origin_rows, k + 1, rule, scores)
        lower[:, k], upper[:, k] = forecast[:, k] - half, forecast[:, k] + half
    return lower, upper


def _half_widths(forecast: np.ndarray, actual: np.ndarray, rows: np.ndarray, step: int, rule: _Level | _Tracking,
                 scores: collections.deque) -> np.ndarray:
    """Half-widths along the origins for one horizon step, updating `rule` with each error as it is realised."""
    widths, pending = np.empty(len(forecast)), 0
    for t, row in enumerate(rows):
        while pending < t and rows[pending] + step <= row:  # errors realised by this origin, in order
            error = abs(actual[pending] - forecast[pending])
            scores.append(error)
            rule.update(bool(error > widths[pending]), scores)  # a miss of the interval used then
            pending += 1
        widths[t] = rule.width(scores)
    return widths


class _Level:
    """ACI: the working miss level, read through the empirical quantile of the scores."""

    def __init__(self, alpha: float, gamma: float, scores: Sequence[float]):
        self.alpha, self.gamma, self.level = alpha, gamma, alpha

    def update(self, missed: bool, scores: Sequence[float]) -> None:
        self.level += self.gamma * (self.alpha - float(missed))

    def width(self, scores: Sequence[float]) -> float:
        return quantile_width(scores, self.level)


class _Tracking:
    """Quantile tracking of the log score: the half-width itself, moved multiplicatively."""

    def __init__(self, alpha: float, gamma: float, scores: Sequence[float]):
        self.alpha, self.gamma, self.half = alpha, gamma, quantile_width(scores, alpha)

    def update(self, missed: bool, scores: Sequence[float]) -> None:
        if 0 < self.half < math.inf:
            self.half *= math.exp(self.gamma * (float(missed) - self.alpha))
        else:  # not started (too few scores) or collapsed on exact forecasts: start again from the scores
            self.half = quantile_width(scores, self.alpha)

    def width(self, scores: Sequence[float]) -> float:
        return self.half


def quantile_width(scores: Sequence[float], level: float) -> float:
    """The (1 - level) quantile of the scores with the finite-sample correction; level <= 0 gives an unbounded
    interval, level >= 1 an empty one (width 0), as ACI prescribes."""
    if level <= 0 or not scores:
        return math.inf
    if level >= 1:
        return 0.0
    return float(conformal_quantile(np.asarray(scores, dtype=np.float64)[:, None], level)[0])
