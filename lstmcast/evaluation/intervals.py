"""The interval scorecard of a backtest: every forecaster gets adaptive conformal intervals (quantile tracking or ACI)
built the same way along the walk-forward origins, each seeded with its own k-step errors at the PRIOR_ROWS origins
just before the first one (all realised by then; the random walk's errors for a forecaster without them), and is
scored per horizon step on coverage, mean width and the Winkler score, in the data's units."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lstmcast.evaluation.adaptive import DEFAULT_GAMMA, adaptive_conformal
from lstmcast.evaluation.conformal import residuals
from lstmcast.evaluation.metrics import actuals
from lstmcast.evaluation.probabilistic import coverage, winkler

PRIOR_ROWS = 60  # origins before the first one whose k-step errors seed each forecaster's scores


def prior_origins(first: int, horizon: int, earliest: int) -> np.ndarray:
    """The PRIOR_ROWS origins just before `first` whose targets all lie at or before it (known at the first origin),
    from `earliest` on."""
    return np.arange(max(earliest, first - horizon - PRIOR_ROWS + 1), first - horizon + 1)


def interval_scorecard(forecasts: dict[str, np.ndarray], actual: np.ndarray, rows: np.ndarray, history: np.ndarray,
                       *, levels: list[float], method: str = "tracking", gamma: float | None = None, window: int = 250,
                       prior: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """{"method", "scale", "gamma", "window", "levels", "by_model": {name: {"80": {"coverage": [per step], "width",
    "winkler",
    "overall": {...}}, "seed": "own" | "random walk"}}}. Log ratios for a positive series (a price's errors scale
    with its level), else differences; intervals are symmetric on that scale. `prior` is (prior_origins(...), each
    forecaster's forecasts [M, H] there)."""
    horizon, gamma = actual.shape[1], DEFAULT_GAMMA[method] if gamma is None else gamma
    known = history[: int(rows[-1]) + horizon + 1]  # the rows the scores read; none after the last target
    scale = "log_ratio" if (known > 0).all() else "difference"
    on_scale = np.log if scale == "log_ratio" else (lambda values: np.asarray(values, dtype=np.float64))
    walk = _prior(history, int(rows[0]), horizon, scale)
    by_model: dict[str, Any] = {}
    for name, forecast in forecasts.items():
        if not np.isfinite(forecast).all() or (scale == "log_ratio" and (forecast <= 0).any()):
            continue  # a forecaster without a forecast everywhere (or a non-positive price) has no interval here
        own = _own_errors(prior, name, history, horizon, scale)
        by_model[name] = {"seed": "random walk" if own is None else "own"}
        for level in levels:
            alpha = 1 - level / 100
            low, high = adaptive_conformal(on_scale(forecast), on_scale(actual), rows, alpha=alpha, method=method,
                                           gamma=gamma, calibration=walk if own is None else own, window=window)
            if scale == "log_ratio":
                low, high = np.exp(low), np.exp(high)
            by_model[name][f"{level:g}"] = interval_scores(low, high, actual, alpha)
    return {"method": method, "scale": scale, "gamma": gamma, "window": window,
            "levels": [f"{level:g}" for level in levels],
            "by_model": by_model}


def _own_errors(prior: tuple[np.ndarray, dict[str, np.ndarray]] | None, name: str, history: np.ndarray,
                horizon: int, scale: str) -> np.ndarray | None:
    """A forecaster's k-step errors [M, H] at the prior origins, or None when it has none (or some are not finite)."""
    if prior is None or name not in prior[1] or len(prior[0]) == 0:
        return None
    origins, forecast = prior[0], prior[1][name]
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = residuals(forecast, actuals(history, origins, horizon), scale)
    return errors if np.isfinite(errors).all() else None


def _prior(history: np.ndarray, first: int, horizon: int, scale: str) -> np.ndarray:
    """[M, H]: the random walk's k-step errors with targets at or before the first origin."""
    count = max(1, min(PRIOR_ROWS, first - horizon + 1))
    starts = np.arange(first - horizon - count + 1, first - horizon + 1)
    starts = starts[starts >= 0]
    if len(starts) == 0:
        return np.zeros((0, horizon))
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.stack([residuals(history[starts], history[starts + k], scale) for k in range(1, horizon + 1)], 1)
    return errors[np.isfinite(errors).all(axis=1)]


def interval_scores(low: np.ndarray, high: np.ndarray, actual: np.ndarray, alpha: float) -> dict[str, Any]:
    """Over the bounded intervals only: an unbounded one (too few realised errors for the level yet) covers
    trivially, and is counted apart instead of flattering the coverage."""
    width = high - low
    finite = np.isfinite(width)
    covered = np.where(finite, coverage(low, high, actual), np.nan)
    score = np.where(finite, winkler(low, high, actual, alpha), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step whose intervals are all unbounded has no mean
        per_step = {"coverage": np.nanmean(covered, axis=0),
                    "width": np.nanmean(np.where(finite, width, np.nan), axis=0),
                    "winkler": np.nanmean(score, axis=0)}
    result = {key: [_number(v) for v in values] for key, values in per_step.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result["overall"] = {key: _number(np.nanmean(values)) for key, values in per_step.items()}
    result["unbounded"] = int((~finite).sum())  # origins whose interval was still infinite (too few errors yet)
    return result


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
