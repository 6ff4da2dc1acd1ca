"""Walk-forward forecasts shared by the single-series and the panel backtest: a model's forecasts at given origins
(one batched pass over views into one tensor), refitting a config on an expanding window, and the naive baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from lstmcast.data.transforms import rows_consumed
from lstmcast.data.windows import Prepared, history_ends, prepare
from lstmcast.errors import ConfigError, DataError
from lstmcast.evaluation.backtest import Schedule
from lstmcast.evaluation.conformal import pit_scores, recalibrated_paths
from lstmcast.evaluation.metrics import REFERENCE
from lstmcast.forecasting import baselines
from lstmcast.forecasting.predict import predict_scaled, to_user_units
from lstmcast.forecasting.sampling import sample_paths, split_paths
from lstmcast.runs.sources import Source
from lstmcast.training.fit import fit


@dataclass
class Made:
    """A model's forecasts [origins, H] (user's units), sample paths [origins, H, S], forecasts at the prior origins."""

    point: np.ndarray
    paths: Optional[np.ndarray] = None
    prior: Optional[np.ndarray] = None
    calibrated: Optional[np.ndarray] = None  # the paths recalibrated on validation PIT, as predict --levels does


def validation_pit(model, on_history: Prepared, draw: tuple[int, int]) -> np.ndarray:
    """|PIT - 0.5| [M, H] of a refit model's paths on its own validation windows, as `train` records them."""
    paths, actual = split_paths(model, on_history, "validation", samples=draw[0], seed=draw[1])
    return pit_scores(paths, actual, seed=draw[1])


def prior_forecast(model, prepared: Prepared, dates: pd.DatetimeIndex, horizon: int) -> Optional[np.ndarray]:
    """Forecasts at the prior origins, or None where there are none (then the random walk's errors seed them)."""
    if len(dates) == 0:
        return None
    try:
        rows = rows_for(prepared, dates, "")
    except DataError:
        return None
    return forecast_at(model, prepared, rows, horizon).point


def refit_until(source: Source, until: pd.Timestamp) -> tuple[Any, Prepared, Prepared]:
    """Train the config on rows up to and including `until` (an expanding window: scaler and weights alike); return
    the model, the whole series prepared with that scaler (windows ending at an origin see nothing after it), and the
    history it was fitted on (its validation split calibrates a probabilistic head)."""
    data = source.config.data
    history = source.series.until(until)
    ends = history_ends(history.dates[rows_consumed(data):], data.split)
    on_history = prepare(history, data, ends=ends)
    fitted = fit(source.config, on_history)
    return fitted.model.cpu(), prepare(source.series, data, scaler=on_history.scaler), on_history


def rows_for(prepared: Prepared, origin_dates: pd.DatetimeIndex, name: str) -> np.ndarray:
    rows = np.searchsorted(prepared.dates.to_numpy(), origin_dates.to_numpy())
    inside = (rows < len(prepared.dates)) & (rows >= prepared.lookback - 1)
    if not inside.all() or not (prepared.dates[rows] == origin_dates).all():
        raise DataError(f"{name}: some origins are not rows of its data (or come before its first full window)")
    return rows


def forecast_at(model, prepared: Prepared, rows: np.ndarray, horizon: int, draw: Optional[tuple[int, int]] = None,
              held_out: Callable[[], Optional[np.ndarray]] = lambda: None) -> Made:
    """One batched pass over all origins' windows (views into one tensor, gathered once); with `draw` (samples,
    seed) the sample paths too, raw and recalibrated on the held-out |PIT - 0.5| that `held_out` gives."""
    x, _ = prepared.windows(np.arange(rows[0], rows[-1] + 1))
    x = x[rows - rows[0]]
    point = to_user_units(prepared, predict_scaled(model, x, batch_size=2048)[:, :horizon], rows)
    if draw is None:
        return Made(point)
    paths = sample_paths(model, prepared, x, rows, samples=draw[0], steps=horizon, seed=draw[1])
    scores = held_out()
    return Made(point, paths, calibrated=None if scores is None else recalibrated_paths(paths, scores[:, :horizon]))


def common_horizon(sources: list, notice: Callable[[str], None]) -> int:
    """The steps every source forecasts (sources: runs and configs, single or panel), with a notice when they differ."""
    horizon = min(s.config.data.horizon for s in sources)
    if len({s.config.data.horizon for s in sources}) > 1:
        notice(f"horizons differ ({', '.join(f'{s.name} {s.config.data.horizon}' for s in sources)}); all are scored "
               f"on the first {horizon} steps")
    return horizon


def earliest_row(sources: list) -> int:
    """The first row every model can forecast from (a full window after the rows its transform consumes)."""
    return max(s.config.data.lookback - 1 + rows_consumed(s.config.data) for s in sources)


def check_unseen(source: Any, first_origin: pd.Timestamp, notice: Callable[[str], None]) -> None:
    """A run scored without refitting, at origins inside its training period: refused when it was refit on all data
    (training.final: it has seen every target), else a notice (its early origins are optimistic)."""
    trained_until = pd.Timestamp(source.run.meta.trained_until)
    if source.run.meta.final_fit and first_origin < trained_until:
        raise ConfigError(f"{source.name} was refit on all data up to {trained_until.date()} (training.final), so "
                          "scoring it on earlier origins would score what it has seen; pass --refit N to retrain "
                          "its config at the origins, or backtest a run trained without --final")
    if first_origin < trained_until:
        notice(f"{source.name}: origins before {trained_until.date()} lie in its training period, so it has seen "
               "their targets; start later (--from) for an honest score")


def baseline_forecasts(history: np.ndarray, plan: Schedule, horizon: int, season: int,
                       notice: Callable[[str], None]) -> dict[str, np.ndarray]:
    rows = plan.rows
    out = {REFERENCE: baselines.random_walk(history, rows, horizon), "drift": baselines.drift(history, rows, horizon),
           "seasonal_naive": baselines.seasonal_naive(history, rows, horizon, season),
           "historical_mean": baselines.historical_mean(history, rows, horizon)}
    if not baselines.ets_available():
        notice("statsmodels is not installed: the ETS baseline is skipped (pip install 'lstmcast[stats]')")
        return out
    # ETS is refitted on the models' schedule: parameters from history up to each group's first origin
    out["ets"] = np.concatenate([baselines.ets(history, rows[group], horizon, fit_until=int(rows[group[0]]))
                                 for group in plan.groups])
    return out


