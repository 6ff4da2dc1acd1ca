"""Honest probabilistic baselines as sample paths [origins, horizon, samples] in the data's units: the random walk
with Gaussian steps and with bootstrapped historical steps (both from a trailing window), and a GARCH(1,1) with
Student-t innovations (the `arch` package). Steps are log returns for a positive series, else differences; a path is
the last observed value moved by its cumulated steps. Every forecast at an origin uses only rows up to it."""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from lstmcast.forecasting.baselines import installed

TRAILING = 250  # steps (about a trading year of daily returns) behind each origin's random-walk spread


def _positive(history: np.ndarray, rows: np.ndarray) -> bool:
    """Log returns when the series is positive up to the last origin (what comes after is never read)."""
    return bool((history[: int(rows[-1]) + 1] > 0).all())


def _steps(history: np.ndarray, positive: bool) -> np.ndarray:
    """steps[i] is the change from row i to row i + 1 (log return or difference)."""
    return np.diff(np.log(history)) if positive else np.diff(history)


def _paths(history: np.ndarray, rows: np.ndarray, draws: np.ndarray, positive: bool) -> np.ndarray:
    """Last values [N] moved by cumulated draws [N, H, S]."""
    moved = np.cumsum(draws, axis=1)
    anchor = history[rows][:, None, None]
    return anchor * np.exp(moved) if positive else anchor + moved


def _trailing(steps: np.ndarray, row: int, window: int) -> np.ndarray:
    """The steps known at origin `row`: those ending at or before it, the last `window` of them."""
    return steps[max(0, row - window) : row]


def gaussian_random_walk(history: np.ndarray, rows: np.ndarray, horizon: int, samples: int, seed: int, *,
                         window: int = TRAILING) -> np.ndarray:
    """Each step N(m, s^2), m and s the trailing window's mean and standard deviation of steps: the bootstrap's
    parametric twin (on a trending series such as a price index the drift matters; on daily prices it is tiny)."""
    positive = _positive(history, rows)
    steps, rng = _steps(history, positive), np.random.default_rng(seed)
    known = [_trailing(steps, int(row), window) for row in rows]
    drift = np.array([values.mean() for values in known])[:, None, None]
    spread = np.array([values.std(ddof=1) for values in known])[:, None, None]
    draws = drift + spread * rng.standard_normal((len(rows), horizon, samples))
    return _paths(history, rows, draws, positive)


def bootstrap_random_walk(history: np.ndarray, rows: np.ndarray, horizon: int, samples: int, seed: int, *,
                          window: int = TRAILING) -> np.ndarray:
    """Each step drawn with replacement from the trailing window's observed steps (fat tails kept, no model)."""
    positive = _positive(history, rows)
    steps, rng = _steps(history, positive), np.random.default_rng(seed)
    draws = np.empty((len(rows), horizon, samples))
    for i, row in enumerate(rows):
        known = _trailing(steps, int(row), window)
        draws[i] = known[rng.integers(0, len(known), size=(horizon, samples))]
    return _paths(history, rows, draws, positive)


def garch_available() -> bool:
    return installed("arch")


def garch(history: np.ndarray, rows: np.ndarray, horizon: int, samples: int, seed: int, *,
          groups: Sequence[np.ndarray], notes: Optional[list[str]] = None) -> np.ndarray:
    """GARCH(1,1) with a constant mean and Student-t innovations on the steps (in percent). Parameters are estimated
    on the steps up to each group's first origin (refit on the backtest's schedule, as ETS is); the conditional
    variance is then filtered up to every origin, and paths are simulated from there. An estimation that does not
    converge is used as it ends, and said in `notes`."""
    from arch.univariate import GARCH, ConstantMean, StudentsT

    positive = _positive(history, rows)
    steps = _steps(history, positive)
    scale = 100.0 if positive else 100.0 / max(float(np.std(steps[: int(rows[0])])), 1e-12)
    parts = []
    for number, group in enumerate(groups):
        origins = rows[group]
        # step index j holds the change into row j + 1: the forecast made at index r - 1 knows rows up to origin r
        innovations = StudentsT(seed=np.random.default_rng([seed, number]))  # what the simulation draws from
        model = ConstantMean(steps[: int(origins[-1])] * scale, volatility=GARCH(p=1, q=1),
                             distribution=innovations, rescale=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a convergence problem is reported below, once, in words
            fitted = model.fit(last_obs=int(origins[0]), disp="off", options={"maxiter": 500})
        if fitted.convergence_flag != 0 and notes is not None:
            notes.append(f"GARCH(1,1) estimation up to row {int(origins[0])} did not converge; its parameters are "
                         "used as the optimizer left them")
        for chunk in _spans(origins, max(1, SIMULATED_VALUES // (samples * horizon))):
            # arch simulates every row from `start` to the data's end: a model on the steps up to the chunk's last
            # origin, with the group's parameters and innovations, bounds that memory
            window = ConstantMean(steps[: int(chunk[-1])] * scale, volatility=GARCH(p=1, q=1),
                                  distribution=innovations, rescale=False)
            forecast = window.forecast(fitted.params, horizon=horizon, start=int(chunk[0]) - 1, method="simulation",
                                       simulations=samples)
            simulated = forecast.simulations.values[chunk - chunk[0]]  # [N, S, H]
            parts.append(_paths(history, chunk, simulated.transpose(0, 2, 1) / scale, positive))
    return np.concatenate(parts)


SIMULATED_VALUES = 20_000_000  # rows x samples x horizon that one arch forecast may simulate (about 160 MB each array)


def _spans(origins: np.ndarray, rows: int) -> list[np.ndarray]:
    """Consecutive runs of origins, each spanning at most `rows` rows (one origin alone may exceed nothing)."""
    spans, start = [], 0
    for i in range(1, len(origins) + 1):
        if i == len(origins) or origins[i] - origins[start] >= rows:
            spans.append(origins[start:i])
            start = i
    return spans


PROBABILISTIC_BASELINES = ("gaussian_rw", "bootstrap_rw", "garch")
GARCH_MIN_STEPS = 100  # steps before the first origin to estimate a GARCH(1,1) on
TRAILING_MIN_STEPS = 2  # steps behind an origin for a random walk's spread


def probabilistic_baselines(history: np.ndarray, rows: np.ndarray, horizon: int, samples: int, seed: int, *,
                            groups: Sequence[np.ndarray], notes: list[str]) -> dict[str, np.ndarray]:
    """Paths of every probabilistic baseline, each with its own seed; what is left out, and why, goes to `notes`."""
    if rows[0] < TRAILING_MIN_STEPS:
        notes.append("the first origin has fewer than 2 steps of history: no probabilistic baselines")
        return {}
    out = {"gaussian_rw": gaussian_random_walk(history, rows, horizon, samples, seed),
           "bootstrap_rw": bootstrap_random_walk(history, rows, horizon, samples, seed + 1)}
    if not garch_available():
        notes.append("arch is not installed: the GARCH baseline is skipped (pip install 'lstmcast[stats]')")
    elif rows[0] < GARCH_MIN_STEPS:
        notes.append(f"the first origin has {int(rows[0])} steps of history, too few for GARCH(1,1) (at least "
                     f"{GARCH_MIN_STEPS}): the GARCH baseline is skipped")
    else:
        out["garch"] = garch(history, rows, horizon, samples, seed + 2, groups=groups, notes=notes)
    return out
