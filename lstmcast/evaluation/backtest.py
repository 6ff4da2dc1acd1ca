"""The walk-forward schedule (origins, refit groups) and the scores of a backtest, from forecasts in the user's units.

A model is scored on the same origins as every baseline; at each origin a forecaster has seen rows up to the origin
only (the workflow makes the forecasts; this module only schedules and scores)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from lstmcast.errors import DataError
from lstmcast.evaluation.metrics import always_up, by_step, compare, naive_scales
from lstmcast.evaluation.significance import diebold_mariano

SEASONS = {"B": 5, "D": 7}


@dataclass(frozen=True)
class Schedule:
    """Which rows are forecast origins, and how they are grouped between refits (one group when never refitting)."""

    rows: np.ndarray  # raw-row index of each origin
    groups: list[np.ndarray]  # positions into `rows`, one array per refit


def schedule(dates: pd.DatetimeIndex, *, earliest: int, default_first: int, horizon: int,
             date_from: Optional[dt.date] = None, last_n: Optional[int] = None, step: int = 1,
             refit_every: Optional[int] = None, where: str = "the data") -> Schedule:
    """Origins every `step` rows from `date_from` (or the last `last_n`, or `default_first`) to the last row whose
    whole horizon is known; never before `earliest` (the first full window)."""
    last = len(dates) - 1 - horizon
    if date_from is not None:
        first = int(np.searchsorted(dates.to_numpy(), np.datetime64(date_from)))
    elif last_n is not None:
        first = last - (last_n - 1) * step
    else:
        first = default_first
    first = max(first, earliest)
    if first > last:
        raise DataError(f"{where}: no origin leaves room for the {horizon}-step horizon; move --from earlier or ask "
                        "for fewer --origins")
    rows = np.arange(first, last + 1, step)
    positions = np.arange(len(rows))
    every = refit_every or len(rows)
    return Schedule(rows, [positions[i : i + every] for i in range(0, len(rows), every)])


def default_season(frequency: str) -> int:
    """Observations per natural cycle: a week of days, a year of months or quarters (1: no season)."""
    if frequency in SEASONS:
        return SEASONS[frequency]
    if frequency.startswith("W-"):
        return 52
    if frequency.startswith("months="):
        months = int(frequency.split("=", 1)[1])
        return 12 // months if months < 12 and 12 % months == 0 else 1
    return {"M": 12, "Q": 4}.get(frequency.removeprefix("B")[:1], 1)


@dataclass
class Scores:
    overall: dict[str, dict[str, Any]]
    by_step: dict[str, list[dict[str, Any]]]
    diebold_mariano: dict[str, dict[str, Any]]  # "a vs b" -> overall and by_step tests of squared error
    always_up: Optional[float]  # directional accuracy of always calling "up"


def score(forecasts: dict[str, np.ndarray], actual: np.ndarray, anchor: np.ndarray, *, history: np.ndarray,
          step: int) -> Scores:
    """Every forecaster on the same origins: metrics overall and per step (MASE scaled by `history`, the rows before
    the first origin), and pairwise Diebold-Mariano tests of squared error, overall (the mean over the steps) and per
    step, with h-1 lags for h-step forecasts from origins `step` rows apart."""
    horizon = actual.shape[1]
    scales = naive_scales(history, horizon)
    overall = compare(forecasts, actual, anchor, scales=scales)
    steps = by_step(forecasts, actual, anchor, scales=scales)
    squared = {name: (values - actual) ** 2 for name, values in forecasts.items()}
    tests = {}
    for a, b in itertools.combinations(forecasts, 2):
        tests[f"{a} vs {b}"] = {
            "a": a, "b": b,
            "overall": diebold_mariano(squared[a].mean(axis=1), squared[b].mean(axis=1),
                                       lags=math.ceil(horizon / step) - 1),
            "by_step": [diebold_mariano(squared[a][:, k], squared[b][:, k], lags=math.ceil((k + 1) / step) - 1)
                        for k in range(horizon)],
        }
    return Scores(overall, steps, tests, always_up(actual, anchor))
