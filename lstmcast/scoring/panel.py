"""What `lstmcast train` records for a panel (one global model over several series): the test scores per series and
pooled, each series' validation scores, the run's metadata and its plots."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from lstmcast import __version__
from lstmcast.config import RunConfig
from lstmcast.data.calendar import Calendar
from lstmcast.data.panel import Panel
from lstmcast.data.panelprep import PreparedPanel
from lstmcast.data.transforms import rows_consumed
from lstmcast.evaluation.metrics import REFERENCE
from lstmcast.evaluation.pooled import pooled_diebold_mariano, pooled_metrics, scaled_losses
from lstmcast.models.lstm import parameter_count
from lstmcast.outputs import plots
from lstmcast.runs.layout import PANEL_FORMAT_VERSION
from lstmcast.runs.meta import RunMeta
from lstmcast.training.fit import Fitted
from lstmcast.scoring.splits import test_forecast_plot, test_scores, validation_residuals

SPLITS = ("train", "validation", "test")


@dataclass
class PanelScores:
    per_series: dict[str, dict[str, dict[str, Optional[float]]]]  # series -> forecaster -> metrics
    pooled: dict[str, dict[str, Any]]  # forecaster -> pooled metrics
    tests: dict[str, dict[str, Any]]  # "model vs random_walk" -> pooled Diebold-Mariano
    first: dict[str, Any]  # the first series' name, test origins, actual values and forecasts, for the plot


def panel_test_scores(model: torch.nn.Module, panel: Panel, prepared: PreparedPanel,
                      config: RunConfig) -> PanelScores:
    """The model and the naive baselines on every series' test windows, each scored exactly as a single-series run
    is (in that series' units, DM included), then pooled across series. Every kept series has test windows
    (prepare_panel skips the others)."""
    offset, horizon = rows_consumed(config.data), prepared.horizon
    per_series, losses, plotted = {}, {}, {}
    for name, member in prepared.members.items():
        series = panel.members[name]
        scores, (origins, actual, forecasts) = test_scores(model, series, member, config)
        per_series[name] = scores.overall
        history = series.values.iloc[: origins[0] + offset + 1, 0].to_numpy()  # the rows before the first origin
        losses[name] = scaled_losses(forecasts, actual, member.dates[origins], history)
        plotted = plotted or {"name": name, "origins": origins, "actual": actual, "forecasts": forecasts}
    pooled = pooled_metrics(per_series)
    tests = {f"model vs {b}": pooled_diebold_mariano(losses, "model", b, lags=horizon - 1) for b in (REFERENCE, "drift")}
    for baseline in (REFERENCE, "drift"):
        pooled[baseline]["dm_p_value"] = tests[f"model vs {baseline}"]["p_value"]
    pooled["model"]["dm_p_value"] = None
    return PanelScores(per_series, pooled, tests, plotted)


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
        seed=config.training.seed, threads=torch.get_num_threads(), ranks=fitted.ranks, device=str(fitted.device),
        best_epoch=state.best_epoch, epochs_run=state.epoch, stopped_early=state.stopped_early,
        best_validation_loss=state.best_loss, test_metrics=scores.pooled, config_sha256=config_sha,
        weights_sha256=weights_sha,
        final_fit=None if final is None else {"epochs": final[0].state.epoch, "windows": len(final[1].origins("train")),
                                              "last_date": last_date},
        panel={"layout": config.data.layout, "validation_start": prepared.validation_start.date(),
               "test_start": prepared.test_start.date(), "series": members, "skipped": prepared.skipped,
               "tests": scores.tests, "statics": prepared.statics},
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
    first = scores.first
    test_forecast_plot(partial / "test_forecast.png", first["name"], prepared.members[first["name"]],
                       first["origins"], first["actual"], first["forecasts"])
    skills = {series: table["model"].get("skill") for series, table in scores.per_series.items()}
    plots.series_skill(partial / "skill.png", {k: v for k, v in skills.items() if v is not None},
                       pooled=scores.pooled["model"].get("skill"),
                       title=f"{config.model.kind}: skill against the random walk on each series' test split")
