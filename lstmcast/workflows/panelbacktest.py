"""lstmcast backtest on panels: global models walked forward over every series of one panel, beside each series'
naive baselines and (with --per-series) the same config trained on each series alone with the same budget, scored
per series in its own units and pooled across series (scale-free means, pooled Diebold-Mariano)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from lstmcast.data.calendar import infer_frequency
from lstmcast.errors import DataError
from lstmcast.evaluation.backtest import Scores, default_season, score
from lstmcast.evaluation.metrics import REFERENCE, actuals
from lstmcast.evaluation.pooled import pooled_diebold_mariano, pooled_metrics, scaled_losses
from lstmcast.files.atomic import check_output
from lstmcast.outputs.backtestfiles import write_panel_backtest
from lstmcast.outputs.tables import is_report
from lstmcast.runs.sources import PanelSource, open_panel_sources
from lstmcast.scoring.panelwalk import PanelPlan, global_forecasts, member_schedule, panel_plan, per_series_source
from lstmcast.scoring.walkforward import baseline_forecasts, check_unseen, common_horizon, earliest_row

BASELINES = ("random_walk", "drift", "seasonal_naive", "historical_mean", "ets")


@dataclass
class PanelBacktestRequest:
    sources: list[Path]
    data_path: Optional[Path] = None
    origins: Optional[int] = None
    date_from: Optional[dt.date] = None
    step: int = 1
    refit: Optional[int] = None
    season: Optional[int] = None
    out: Optional[Path] = None
    force: bool = False
    overrides: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    per_series: bool = False  # also each config trained on each series alone, same budget


@dataclass
class PanelBacktestOutcome:
    report: dict[str, Any]
    seconds: float


def panel_backtest(request: PanelBacktestRequest, *, on_progress: Callable[[int, int], None] = lambda d, t: None,
                   notice: Callable[[str], None] = lambda message: None) -> PanelBacktestOutcome:
    started = time.perf_counter()
    if request.out is not None:
        check_output(request.out, force=request.force, what="a backtest report", recognise=is_report)
    sources = open_panel_sources(request.sources, names=request.names, reserved=BASELINES,
                                 data_path=request.data_path, overrides=request.overrides, notice=notice)
    first, horizon, earliest = sources[0], common_horizon(sources, notice), earliest_row(sources)
    plan = panel_plan(first.panel, first.config, horizon, earliest=earliest, date_from=request.date_from,
                      last_n=request.origins, step=request.step, refit_every=request.refit)
    competitors = _competitors(sources, request.per_series)
    for source in sources:
        if source.run is not None and request.refit is None:
            check_unseen(source, plan.dates[0], notice)
    done, total = [0], sum((len(plan.groups) if request.refit else 1) * len(group) for _, group in competitors)

    def progress() -> None:
        done[0] += 1
        on_progress(done[0], total)

    forecasts, dropped = {}, {}
    for name, group in competitors:
        forecasts[name] = {}
        for source in group:
            made, missing = global_forecasts(source, plan, horizon, earliest=earliest,
                                             refit=request.refit is not None, progress=progress)
            forecasts[name] |= made
            dropped |= missing
    dropped |= _not_everywhere(sources, forecasts, dropped)
    for name, why in dropped.items():
        notice(f"series {name} left out of the comparison: {why}")
    report, detail = _score(first, plan, forecasts, dropped, horizon, earliest, request, notice)
    report["sources"] = {s.name: str(path) for s, path in zip(sources, request.sources)}
    if request.out is not None:
        write_panel_backtest(request.out, report, detail, force=request.force)
    return PanelBacktestOutcome(report, time.perf_counter() - started)


def _not_everywhere(sources: list[PanelSource], forecasts: dict[str, dict[str, np.ndarray]],
                    dropped: dict[str, str]) -> dict[str, str]:
    """Series some models forecast and others do not (their panels differ): compared on the common series only."""
    names = dict.fromkeys(name for source in sources for name in source.panel.members)
    out = {}
    for name in names:
        have = [name in made for made in forecasts.values()]
        if name not in dropped and (name not in sources[0].panel.members or (any(have) and not all(have))):
            out[name] = "not in every source's panel (the models are compared on the series they share)"
    return out


def _competitors(sources: list[PanelSource], per_series: bool) -> list[tuple[str, list[PanelSource]]]:
    """(name, the sources that make its forecasts): each global model, then each one's per-series counterpart."""
    competitors = [(source.name, [source]) for source in sources]
    if per_series:
        competitors += [(f"{source.name} per series", [per_series_source(source, name) for name in source.panel.members])
                        for source in sources]
    return competitors


def _score(first: PanelSource, plan: PanelPlan, forecasts: dict[str, dict[str, np.ndarray]], dropped: dict[str, str],
           horizon: int, earliest: int, request: PanelBacktestRequest,
           notice: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, tuple]]:
    """Every series scored as a single-series backtest scores it (its own units, its baselines, DM), then pooled;
    and each series' (target dates of step 1's origins, actual, forecasts) for the report files."""
    longest = max(first.panel.members.values(), key=lambda series: len(series.dates))
    season = request.season or default_season(infer_frequency(longest.dates))
    per_series, losses, origins = {}, {}, {}
    for name, series in first.panel.members.items():
        plan_rows = member_schedule(series, plan, earliest, horizon)
        if name in dropped or plan_rows is None:
            continue
        history = series.values.iloc[:, 0].to_numpy()
        rows = plan_rows.rows
        actual = actuals(history, rows, horizon)
        made = {model: values[name] for model, values in forecasts.items()}
        quiet = bool(per_series)  # the baselines' notices (ETS unavailable) once, not once per series
        made |= baseline_forecasts(history, plan_rows, horizon, season, (lambda _: None) if quiet else notice)
        scores: Scores = score(made, actual, history[rows], history=history[: rows[0] + 1], step=request.step)
        per_series[name] = {"origins": len(rows), "first_origin": str(series.dates[rows[0]].date()),
                            "last_origin": str(series.dates[rows[-1]].date()), "overall": scores.overall,
                            "diebold_mariano": {key: test["overall"] for key, test in scores.diebold_mariano.items()}}
        losses[name] = scaled_losses(made, actual, series.dates[rows], history[: rows[0] + 1])
        origins[name] = (series.dates, rows, actual, made)
    if not per_series:
        raise DataError(f"{first.panel.path}: no series could be scored at these origins; move --from earlier")
    return _report(first, plan, per_series, losses, list(forecasts), dropped, horizon, season, request), origins


def _report(first: PanelSource, plan: PanelPlan, per_series: dict[str, Any], losses: dict, models: list[str],
            dropped: dict[str, str], horizon: int, season: int, request: PanelBacktestRequest) -> dict[str, Any]:
    pooled = pooled_metrics({name: entry["overall"] for name, entry in per_series.items()})
    pairs = [(model, baseline) for model in models for baseline in (REFERENCE, "drift")]
    pairs += [(model, f"{model} per series") for model in models if f"{model} per series" in models]
    tests = {f"{a} vs {b}": pooled_diebold_mariano(losses, a, b, lags=horizon - 1) for a, b in pairs}
    return {
        "format": "lstmcast-panel-backtest", "target": first.config.data.target,
        "data": {"path": str(first.panel.path), "sha256": first.panel.sha256},
        "refit": "never" if request.refit is None else request.refit, "step": request.step, "horizon": horizon,
        "season": season, "origins": len(plan.dates), "first_origin": str(plan.dates[0].date()),
        "last_origin": str(plan.dates[-1].date()), "models": models, "series": per_series, "skipped": dropped,
        "pooled": pooled, "pooled_tests": tests,
    }
