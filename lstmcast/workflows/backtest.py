"""lstmcast backtest: run directories and configs scored on the same walk-forward origins against the baselines.

At each origin a model sees only rows up to the origin: windows end there, and with refitting the scaler and the
weights come from an expanding window that ends there too (the same `fit` as `lstmcast train`)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from lstmcast import faults
from lstmcast.data.calendar import infer_frequency
from lstmcast.data.reading import Series
from lstmcast.data.transforms import rows_consumed
from lstmcast.data.windows import prepare, split_ends
from lstmcast.evaluation.backtest import Schedule, Scores, default_season, schedule, score
from lstmcast.evaluation.intervals import interval_scorecard, prior_origins
from lstmcast.evaluation.metrics import REFERENCE, actuals
from lstmcast.evaluation.scorecard import distribution_scorecard
from lstmcast.files.atomic import check_output
from lstmcast.forecasting.distributions import PROBABILISTIC_BASELINES, probabilistic_baselines
from lstmcast.forecasting.sampling import DEFAULT_SAMPLES
from lstmcast.outputs.backtestfiles import write_backtest
from lstmcast.outputs.tables import is_report
from lstmcast.runs.sources import Source, open_sources
from lstmcast.scoring.walkforward import (
    Made, baseline_forecasts, check_unseen, common_horizon, earliest_row, forecast_at, prior_forecast, refit_until, rows_for,
    validation_pit,
)

BASELINES = ("random_walk", "drift", "seasonal_naive", "historical_mean", "ets", *PROBABILISTIC_BASELINES)


@dataclass
class BacktestRequest:
    sources: list[Path]  # run directories or YAML configs
    data_path: Optional[Path] = None
    origins: Optional[int] = None  # the last N origins
    date_from: Optional[dt.date] = None
    step: int = 1
    refit: Optional[int] = None  # None: never; K: every K-th origin (1: every origin)
    season: Optional[int] = None
    out: Optional[Path] = None
    force: bool = False
    overrides: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # --name, one per source in order (default: the file's name)
    levels: list[float] = field(default_factory=list)  # interval levels in percent, adaptive along the origins
    adaptive: str = "tracking"  # how they adapt (evaluation.adaptive): tracking or aci
    gamma: Optional[float] = None  # its step size (None: the method's default)
    window: int = 250  # the latest realised errors it reads
    samples: Optional[int] = None  # sample paths per origin for the probabilistic scorecard (default 1000)
    seed: int = 0  # of those paths


@dataclass
class BacktestOutcome:
    names: list[str]  # models, then baselines
    origin_dates: list[str]
    horizon: int
    season: int
    scores: Scores
    report: dict[str, Any]  # everything, as report.json and --json carry it
    seconds: float


def backtest(request: BacktestRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
             notice: Callable[[str], None] = lambda message: None) -> BacktestOutcome:
    started = time.perf_counter()
    if request.out is not None:  # refuse now, not after the refits
        check_output(request.out, force=request.force, what="a backtest report", recognise=is_report)
    sources = open_sources(request.sources, names=request.names, reserved=BASELINES, data_path=request.data_path,
                           overrides=request.overrides, notice=notice)
    horizon = common_horizon(sources, notice)
    first = sources[0].series
    history = first.values.iloc[:, 0].to_numpy()
    plan = _schedule(sources[0], request, horizon)
    season = request.season or default_season(infer_frequency(first.dates))
    # by forecaster: forecasts, sample paths, and forecasts at the origins before the first (the intervals' seed)
    forecasts, paths, prior = {}, {}, {}
    prior_rows = prior_origins(int(plan.rows[0]), horizon, earliest_row(sources)) if request.levels else plan.rows[:0]
    progress = _Progress(on_progress, sum(1 if s.run is not None and request.refit is None else len(plan.groups)
                                          for s in sources))
    draw = _draw(request, sources)
    for source in sources:
        made = _model_forecasts(source, first.dates[plan.rows], first.dates[prior_rows], plan, request.refit,
                                horizon, notice, progress, draw)
        forecasts[source.name] = made.point
        if made.paths is not None:
            paths[source.name] = made.paths
        if made.calibrated is not None:
            paths[f"{source.name}, calibrated"] = made.calibrated
        if made.prior is not None:
            prior[source.name] = made.prior
    forecasts |= baseline_forecasts(history, plan, horizon, season, notice)
    if len(prior_rows):  # the baselines at the prior origins too, quietly (their notices were given)
        prior |= baseline_forecasts(history, Schedule(prior_rows, [np.arange(len(prior_rows))]), horizon, season,
                            lambda message: None)
    actual = actuals(history, plan.rows, horizon)
    scores = score(forecasts, actual, history[plan.rows], history=history[: plan.rows[0] + 1], step=request.step)
    origin_dates = [str(d.date()) for d in first.dates[plan.rows]]
    report = _report(request, sources, first, origin_dates, horizon, season, scores)
    if request.levels:
        adaptive = {"method": request.adaptive, "gamma": request.gamma, "window": request.window}
        report["intervals"] = interval_scorecard(forecasts, actual, plan.rows, history, levels=request.levels,
                                                 prior=(prior_rows, prior), **adaptive)
    pits = None
    if draw is not None:
        paths |= _probabilistic_baselines(history, plan, horizon, draw, notice)
        report["distribution"], pits = distribution_scorecard(
            paths, actual, baselines=[name for name in paths if name in PROBABILISTIC_BASELINES],
            levels=request.levels or [80.0, 95.0], step=request.step, seed=draw[1])
    if request.out is not None:
        write_backtest(request.out, report, scores, first, plan.rows, actual, forecasts, len(sources),
                       reference=REFERENCE, pits=pits, force=request.force)
    return BacktestOutcome(list(forecasts), origin_dates, horizon, season, scores, report,
                           time.perf_counter() - started)


class _Progress:
    def __init__(self, on_progress: Callable[[int, int], None], total: int) -> None:
        self.on_progress, self.total, self.done = on_progress, total, 0

    def __call__(self) -> None:
        self.done += 1
        faults.hit("backtest-fit")
        self.on_progress(self.done, self.total)


def _schedule(source: Source, request: BacktestRequest, horizon: int) -> Schedule:
    """Origins: the first model's test split by default (the first origin whose first target is a test row)."""
    data, dates = source.config.data, source.series.dates
    offset = rows_consumed(data)
    _, test_start = split_ends(dates[offset:], data.split, strict=source.run is None)  # a run's data may be newer
    return schedule(dates, earliest=data.lookback - 1 + offset, default_first=test_start + offset - 1,
                    horizon=horizon, date_from=request.date_from, last_n=request.origins, step=request.step,
                    refit_every=request.refit, where=str(source.series.path))


def _draw(request: BacktestRequest, sources: list[Source]) -> Optional[tuple[int, int]]:
    """(samples, seed) for the probabilistic scorecard: for a probabilistic head, or the baselines' (--samples)."""
    if request.samples is None and all(s.config.model.head.kind == "point" for s in sources):
        return None
    return request.samples or DEFAULT_SAMPLES, request.seed


def _probabilistic_baselines(history: np.ndarray, plan: Schedule, horizon: int, draw: tuple[int, int],
                             notice: Callable[[str], None]) -> dict[str, np.ndarray]:
    notes: list[str] = []
    paths = probabilistic_baselines(history, plan.rows, horizon, *draw, groups=plan.groups, notes=notes)
    for note in notes:
        notice(note)
    return paths


def _model_forecasts(source: Source, origin_dates: pd.DatetimeIndex, prior_dates: pd.DatetimeIndex, plan: Schedule,
                     refit: Optional[int], horizon: int, notice: Callable[[str], None], progress: _Progress,
                     draw: Optional[tuple[int, int]]) -> Made:
    """The model's forecasts at the origins (and at the prior origins, by the model of the first origin)."""
    draw = draw if source.config.model.head.kind != "point" else None
    data = source.config.data
    if source.run is not None and refit is None:
        prepared = prepare(source.series, data, scaler=source.run.scaler)
        check_unseen(source, origin_dates[0], notice)
        conformal = source.run.meta.conformal
        recorded = np.array(conformal.scores).T if conformal is not None and conformal.scale == "pit" else None
        made = forecast_at(source.run.model, prepared, rows_for(prepared, origin_dates, source.name), horizon, draw,
                         lambda: recorded)
        progress()
        return replace(made, prior=prior_forecast(source.run.model, prepared, prior_dates, horizon))
    parts, prior = [], None
    for number, group in enumerate(plan.groups):
        model, prepared, on_history = refit_until(source, origin_dates[group[0]])
        rows = rows_for(prepared, origin_dates[group], source.name)
        parts.append(forecast_at(model, prepared, rows, horizon, draw and (draw[0], draw[1] + number),
                               lambda: validation_pit(model, on_history, draw)))
        prior = prior if number else prior_forecast(model, prepared, prior_dates, horizon)
        progress()

    def joined(name: str) -> Optional[np.ndarray]:
        values = [getattr(part, name) for part in parts]
        return None if values[0] is None else np.concatenate(values)

    return Made(joined("point"), joined("paths"), prior, joined("calibrated"))


def _report(request: BacktestRequest, sources: list[Source], series: Series, origin_dates: list[str], horizon: int,
            season: int, scores: Scores) -> dict[str, Any]:
    return {
        "format": "lstmcast-backtest", "target": series.target,
        "data": {"path": str(series.path), "sha256": series.sha256},
        "sources": {s.name: str(path) for s, path in zip(sources, request.sources)},
        "refit": "never" if request.refit is None else request.refit, "step": request.step, "horizon": horizon,
        "season": season, "origins": len(origin_dates), "first_origin": origin_dates[0],
        "last_origin": origin_dates[-1], "always_up": scores.always_up, "overall": scores.overall,
        "by_step": scores.by_step, "diebold_mariano": scores.diebold_mariano,
    }
