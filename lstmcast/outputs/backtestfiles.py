"""The files of a backtest report directory: report.json, the forecasts and scores as CSV, and the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from lstmcast.files.atomic import atomic_output
from lstmcast.outputs import plots
from lstmcast.outputs.tables import is_report, write_report


def write_backtest(out: Path, report: dict[str, Any], scores: Any, series: Any, rows: np.ndarray, actual: np.ndarray,
                   forecasts: dict[str, np.ndarray], models: int, *, reference: str,
                   pits: Optional[dict[str, np.ndarray]], force: bool) -> None:
    """All or nothing, in one atomic directory: `models` is how many of `forecasts` are models (the rest are
    baselines, `reference` the one the plots compare to); `pits` adds pit.png for the probabilistic scorecard."""
    horizon, dates = actual.shape[1], series.dates
    steps = np.arange(1, horizon + 1)
    long = pd.DataFrame({
        "origin": np.repeat(dates[rows].strftime("%Y-%m-%d"), horizon), "step": np.tile(steps, len(rows)),
        "date": dates[(rows[:, None] + steps[None, :]).reshape(-1)].strftime("%Y-%m-%d"),
        "actual": actual.reshape(-1), **{name: values.reshape(-1) for name, values in forecasts.items()},
    })
    table = [{"model": name, "step": "all", **scores.overall[name]} for name in forecasts]
    table += [{"model": name, "step": k + 1, **row} for name in forecasts for k, row in enumerate(scores.by_step[name])]
    context = slice(max(0, rows[0] - len(rows)), rows[0] + 2)
    with atomic_output(out, force=force, what="a backtest report", recognise=is_report, directory=True) as temp:
        write_report(temp, report, long, pd.DataFrame(table))
        plots.error_by_step(temp / "error_by_step.png", {n: [r["rmse"] for r in scores.by_step[n]] for n in forecasts},
                            target=series.target, reference=reference, baselines=list(forecasts)[models:])
        plots.forecast_vs_actual(
            temp / "forecasts.png", dates[rows + 1], actual[:, 0],
            {name: values[:, 0] for i, (name, values) in enumerate(forecasts.items()) if i < models or name == reference},
            context_dates=dates[context], context=series.values.iloc[context, 0].to_numpy(), reference=reference,
            title=f"{series.path.name}: {series.target} (original units), one step ahead from {len(rows)} origins",
            ylabel=series.target)
        if pits:
            card = report["distribution"]["by_model"]
            plots.pit_histograms(temp / "pit.png", pits, {name: card[name]["pit_p_value"] for name in pits},
                                 target=series.target)


def write_panel_backtest(out: Path, report: dict[str, Any], detail: dict[str, tuple], *, force: bool) -> None:
    """A panel backtest's directory: forecasts.csv with a series column, metrics.csv per series and pooled,
    report.json, and skill.png (each model's skill per series, its pooled skill dashed)."""
    frames = []
    for name, (dates, rows, actual, made) in detail.items():
        horizon = actual.shape[1]
        steps = np.arange(1, horizon + 1)
        frames.append(pd.DataFrame({
            "series": name, "origin": np.repeat(dates[rows].strftime("%Y-%m-%d"), horizon),
            "step": np.tile(steps, len(rows)),
            "date": dates[(rows[:, None] + steps[None, :]).reshape(-1)].strftime("%Y-%m-%d"),
            "actual": actual.reshape(-1), **{model: values.reshape(-1) for model, values in made.items()}}))
    table = [{"series": "pooled", "model": model, **{k: v for k, v in row.items() if k != "series"}}
             for model, row in report["pooled"].items()]  # (a pooled row's own "series" counts the series)
    table += [{"series": name, "model": model, **row} for name, entry in report["series"].items()
              for model, row in entry["overall"].items()]
    model = report["models"][0]
    with atomic_output(out, force=force, what="a backtest report", recognise=is_report, directory=True) as temp:
        write_report(temp, report, pd.concat(frames, ignore_index=True), pd.DataFrame(table))
        plots.series_skill(temp / "skill.png", {name: entry["overall"][model]["skill"]
                                                for name, entry in report["series"].items()
                                                if entry["overall"][model]["skill"] is not None},
                           pooled=report["pooled"][model]["skill"],
                           title=f"{model}: skill by series over {report['origins']} origins")
