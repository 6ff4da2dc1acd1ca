"""Walk-forward forecasts of a global model over a panel: one origin calendar for the whole panel (every series is
forecast at the origin dates it has), refits on an expanding window cut at the same date for every series (each
series scaled on its own history), and each series' own schedule for its baselines."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from lstmcast.config import RunConfig
from lstmcast.data.panel import Panel
from lstmcast.data.panelprep import cutoffs, prepare_panel
from lstmcast.data.reading import Series
from lstmcast.errors import DataError
from lstmcast.evaluation.backtest import Schedule
from lstmcast.runs.sources import PanelSource
from lstmcast.scoring.walkforward import forecast_at, rows_for
from lstmcast.training.fit import fit


@dataclass
class PanelPlan:
    """The panel's origin dates and their refit groups (positions into `dates`)."""

    dates: pd.DatetimeIndex
    groups: list[np.ndarray]


def panel_plan(panel: Panel, config: RunConfig, horizon: int, *, earliest: int, date_from: Optional[Any],
               last_n: Optional[int], step: int, refit_every: Optional[int]) -> PanelPlan:
    """Origins every `step` panel dates from `date_from` (default: the panel's test cut-off; or the last `last_n`),
    on dates where at least one series has a full window for every model (from its row `earliest`) and its whole
    horizon after."""
    data = config.data
    usable = [_origin_dates(series, earliest, horizon) for series in panel.members.values()]
    dates = pd.DatetimeIndex(np.unique(np.concatenate([d.to_numpy() for d in usable])))
    if last_n is not None:
        dates = dates[::-1][::step][:last_n][::-1]
    else:
        first = pd.Timestamp(date_from) if date_from is not None else cutoffs(panel, data)[1]
        dates = dates[dates >= first][::step]
    if len(dates) == 0:
        raise DataError(f"{panel.path}: no panel date leaves a full window and the {horizon}-step horizon for any "
                        "series; move --from earlier or ask for fewer --origins")
    positions = np.arange(len(dates))
    every = refit_every or len(dates)
    return PanelPlan(dates, [positions[i : i + every] for i in range(0, len(dates), every)])


def _origin_dates(series: Series, earliest: int, horizon: int) -> pd.DatetimeIndex:
    return series.dates[earliest : max(earliest, len(series.dates) - horizon)]


def member_schedule(series: Series, plan: PanelPlan, earliest: int, horizon: int) -> Optional[Schedule]:
    """A series' raw rows at the plan's origin dates it can forecast from, grouped by the plan's refits (empty
    groups left out); None when it has no such date."""
    rows = pd.Series(np.arange(len(series.dates)), index=series.dates)
    usable = _origin_dates(series, earliest, horizon)
    chosen, groups = [], []
    for group in plan.groups:
        dates = plan.dates[group]
        kept = rows[dates[dates.isin(usable)]].to_numpy()
        if len(kept):
            groups.append(np.arange(len(chosen), len(chosen) + len(kept)))
            chosen.append(kept)
    return Schedule(np.concatenate(chosen), groups) if chosen else None


def global_forecasts(source: PanelSource, plan: PanelPlan, horizon: int, *, earliest: int,
                     refit: bool, progress: Callable[[], None]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each series' forecasts [its origins, horizon] in its units, by the source's run (never refit) or by its
    config trained on the panel's history up to each refit group's first origin date. Also {series: why} for those
    the model could not forecast at some origin (too short to train on then): they drop out of the comparison."""
    panel = source.panel
    parts: dict[str, list[np.ndarray]] = {name: [] for name in panel.members}
    missing: dict[str, str] = {}
    groups = plan.groups if refit else [np.arange(len(plan.dates))]  # without refits: one model for every origin
    for group in groups:
        try:
            model, scalers, statics = _model_for(source, panel, plan.dates[group[0]], refit=refit)
        except DataError:  # no series long enough to train on yet: none of them has this model's forecasts
            missing |= {name: f"too short to train on before {plan.dates[group[0]].date()}" for name in panel.members
                        if name not in missing}
            progress()
            continue
        known = dataclasses.replace(panel, members={k: v for k, v in panel.members.items() if k in scalers})
        full, _ = prepare_panel(known, source.config.data, scalers=scalers, statics=statics)
        for name, series in panel.members.items():
            dates = plan.dates[group]
            dates = dates[dates.isin(_origin_dates(series, earliest, horizon))]
            if len(dates) == 0 or name in missing:
                continue
            if name not in full.members:
                missing[name] = f"too short to train on before {plan.dates[group[0]].date()}"
                continue
            member = full.members[name]
            parts[name].append(forecast_at(model, member, rows_for(member, dates, name), horizon).point)
        progress()
    return {name: np.concatenate(values) for name, values in parts.items() if values and name not in missing}, missing


def _model_for(source: PanelSource, panel: Panel, until: pd.Timestamp, *, refit: bool) -> tuple:
    """(model, scalers by series, static covariate values): a run's own unless refitting, else the config fitted
    on every series' rows up to and including `until`."""
    if source.run is not None and not refit:
        return source.run.model, source.run.scalers, source.run.meta.panel.statics
    cut = {name: series.until(until) for name, series in panel.members.items()}
    history = dataclasses.replace(panel, members={name: series for name, series in cut.items() if len(series.dates)})
    if not history.members:
        raise DataError(f"no rows up to {until.date()}")
    prepared, _ = prepare_panel(history, source.config.data, history=True)
    fitted = fit(source.config, prepared)
    return fitted.model.cpu(), {name: member.scaler for name, member in prepared.members.items()}, prepared.statics


def per_series_source(source: PanelSource, name: str) -> PanelSource:
    """The source's config on one series alone (a one-series panel: the same model, budget and preparation)."""
    config = source.config.model_copy(update={"data": source.config.data.model_copy(update={"series": (name,)})})
    panel = dataclasses.replace(source.panel, members={name: source.panel.members[name]},
                                statics={name: source.panel.statics[name]} if name in source.panel.statics else {})
    return PanelSource(f"{source.name} per series", config, panel)
