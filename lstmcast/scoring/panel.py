"""What `lstmcast train` records for a panel (one global model over several series): the test scores per series and
pooled, each series' validation scores, the run's metadata and its plots."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from lstmcast import __version__
from lstmcast.config import RunConfig
from lstmcast.data.calendar import Calendar
from lstmcast.data.panel import Panel
from lstmcast.data.panelprep import PreparedPanel
from lstmcast.data.transforms import rows_consumed
from lstmcast.evaluation.backtest import score
from lstmcast.evaluation.metrics import REFERENCE, actuals
from lstmcast.evaluation.pooled import pooled_diebold_mariano, pooled_metrics, scaled_losses
from lstmcast.forecasting.baselines import drift, random_walk
from lstmcast.forecasting.predict import predict_scaled, to_user_units
from lstmcast.models.lstm import parameter_count
from lstmcast.outputs import plots
from lstmcast.runs.layout import PANEL_FORMAT_VERSION
from lstmcast.runs.meta import RunMeta
from lstmcast.training.fit import Fitted
from lstmcast.scoring.splits import validation_residuals

SPLITS = ("train", "validation", "test")


@dataclass
class PanelScores:
    per_series: dict[str, dict[str, dict[str, Optional[float]]]]  # series -> forecaster -> metrics
    pooled: dict[str, dict[str, Any]]  # forecaster -> pooled metrics
    tests: dict[str, dict[str, Any]]  # "model vs random_walk" -> pooled Diebold-Mariano
    first: tuple[str, np.ndarray, np.ndarray, dict[str, np.ndarray]]  # the first series' test origins, for the plot


def panel_test_scores(model: torch.nn.Module, panel: Panel, prepared: PreparedPanel,
                      config: RunConfig) -> PanelScores:
    """The model and the naive baselines on every series' test windows, in that series' units (each scored as a
    single-series run is, DM included), then pooled across series."""
    offset, horizon = rows_consumed(config.data), prepared.horizon
    per_series, losses, first = {}, {}, None
    for name, member in prepared.members.items():
        origins = member.origins("test")
        if len(origins) == 0:
            continue
        predicted = to_user_units(member, predict_scaled(model.cpu(), member.windows(origins)[0]), origins)
        history = panel.members[name].values.iloc[:, 0].to_numpy()
        raw = origins + offset
        forecasts = {"model": predicted, REFERENCE: random_walk(history, raw, horizon),
                     "drift": drift(history, raw, horizon)}
        actual = actuals(history, raw, horizon)
        scores = score(forecasts, actual, history[raw], history=history[: raw[0] + 1], step=1)
        for baseline in forecasts:
            test = scores.diebold_mariano.get(f"model vs {baseline}", {}).get("overall", {})
            scores.overall[baseline]["dm_p_value"] = test.get("p_value")
        per_series[name] = scores.overall
        losses[name] = scaled_losses(forecasts, actual, member.dates[origins], history[: raw[0] + 1])
        first = first or (name, origins, actual, forecasts)
    pooled = pooled_metrics(per_series)
    tests = {f"model vs {b}": pooled_diebold_mariano(losses, "model", b, lags=horizon - 1) for b in (REFERENCE, "drift")}
    for baseline in (REFERENCE, "drift"):
        pooled[baseline]["dm_p_value"] = tests[f"model vs {baseline}"]["p_value"]
    pooled["model"]["dm_p_value"] = None
    assert first is not None  # every kept series has test windows (prepare_panel checks it)
    return PanelScores(per_series, pooled, tests, first)


def panel_meta(config: RunConfig, panel: Panel, prepared: PreparedPanel, fitted: Fitted, scores: PanelScores,
               calendar: Calendar, *, config_sha: str, weights_sha: str,
               final: Optional[tuple[Fitted, PreparedPanel]]) -> RunMeta:
    saved = final[1] if final else prepared  # the saved model's own scalers
    members = {}
    for name, member in prepared.members.items():
        series = panel.members[name]
        members[name] = {"scaler": saved.members[name].scaler.to_json(), "rows": len(series.dates),
                         "first_date": series.dates[0].date(), "last_date": series.dates[-1].date(),
                         "windows": {split: len(member.origins(split)) for split in SPLITS},
                         "test_metrics": scores.per_series[name],
                         "conformal": validation_residuals(fitted.model, series, member, config)}
    state = fitted.state
    first_date = min(series.dates[0] for series in panel.members.values()).date()
    last_date = max(series.dates[-1] for series in panel.members.values()).date()
    return RunMeta(
        format_version=PANEL_FORMAT_VERSION, lstmcast_version=__version__, torch_version=torch.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), model_kind=config.model.kind,
        parameters=parameter_count(fitted.model), columns=prepared.columns, target=prepared.columns[0],
        transforms=dict(zip(prepared.columns, prepared.transforms)), lookback=prepared.lookback,
        horizon=prepared.horizon, frequency=calendar.frequency, calendar=calendar.exchange,
        data={"path": str(panel.path), "sha256": panel.sha256,
              "rows": sum(len(series.dates) for series in panel.members.values()),
              "first_date": first_date, "last_date": last_date},
        windows={split: len(prepared.origins(split)) for split in SPLITS},
        target_dates=_target_dates(prepared),
        seed=config.training.seed, threads=torch.get_num_threads(), device=str(fitted.device),
        best_epoch=state.best_epoch, epochs_run=state.epoch, stopped_early=state.stopped_early,
        best_validation_loss=state.best_loss, test_metrics=scores.pooled, config_sha256=config_sha,
        weights_sha256=weights_sha,
        final_fit=None if final is None else {"epochs": final[0].state.epoch, "windows": len(final[1].origins("train")),
                                              "last_date": last_date},
        panel={"layout": config.data.layout, "validation_start": prepared.validation_start.date(),
               "test_start": prepared.test_start.date(), "series": members, "skipped": prepared.skipped,
               "tests": {key: {k: v for k, v in test.items()} for key, test in scores.tests.items()}},
    )


def _target_dates(prepared: PreparedPanel) -> dict[str, list[str]]:
    """The first and last target date of each split over all series."""
    spans = {}
    for split in SPLITS:
        firsts, lasts = [], []
        for member in prepared.members.values():
            origins = member.origins(split)
            if len(origins):
                firsts.append(member.dates[origins[0] + 1])
                lasts.append(member.dates[origins[-1] + member.horizon])
        spans[split] = [str(min(firsts).date()), str(max(lasts).date())]
    return spans


def panel_plots(partial: Path, config: RunConfig, prepared: PreparedPanel, scores: PanelScores) -> None:
    """test_forecast.png for the first series (its name in the title) and skill.png: each series' skill against the
    random walk, so a reader sees at once where the global model helps."""
    name, origins, actual, forecasts = scores.first
    member = prepared.members[name]
    context = slice(max(0, origins[0] - len(origins)), origins[0] + 2)
    plots.forecast_vs_actual(
        partial / "test_forecast.png", member.dates[origins + 1], actual[:, 0],
        {"LSTM, 1 step ahead": forecasts["model"][:, 0], "random walk": forecasts[REFERENCE][:, 0]},
        context_dates=member.dates[context], context=member.raw[context, 0], reference="random walk",
        title=f"{name}: {config.data.target} (original units), one step ahead on the test split "
              f"({len(origins)} dates)", ylabel=config.data.target,
    )
    skills = {series: table["model"].get("skill") for series, table in scores.per_series.items()}
    plots.series_skill(partial / "skill.png", {k: v for k, v in skills.items() if v is not None},
                       pooled=scores.pooled["model"].get("skill"),
                       title=f"{config.model.kind}: skill against the random walk on each series' test split")
