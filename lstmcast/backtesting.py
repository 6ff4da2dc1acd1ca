"""Walk-forward backtest: forecasts from moving origins, for several models and the naive baselines, scored alike.

At each origin a model sees only rows up to the origin: windows end there, and with refitting the scaler and the
weights come from an expanding window that ends there too. No typer, no rich.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from lstmcast.errors import ConfigError, DataError

BASELINES = ("random_walk", "drift", "seasonal_naive", "historical_mean", "ets")
SEASONS = {"B": 5, "D": 7, "MS": 12, "ME": 12, "QS": 4, "QE": 4}


@dataclass
class BacktestRequest:
    sources: list[Path]  # run directories or YAML configs
    data_path: Optional[Path] = None
    origins: Optional[int] = None  # the last N origins
    date_from: Optional[dt.date] = None
    step: int = 1
    refit: str = "never"  # never | every | K
    season: Optional[int] = None
    out: Optional[Path] = None
    force: bool = False


@dataclass
class ModelSource:
    name: str
    config: Any  # RunConfig
    run: Any = None  # LoadedRun when the source is a run directory


@dataclass
class BacktestOutcome:
    names: list[str]  # models, then baselines
    origin_dates: list[str]
    horizon: int
    season: int
    overall: dict[str, dict[str, Any]]
    by_step: dict[str, list[dict[str, Any]]]
    diebold_mariano: dict[str, dict[str, Any]]
    seconds: float
    notices: list[str] = field(default_factory=list)


def resolve_sources(paths: list[Path]) -> list[ModelSource]:
    from lstmcast.config import load_config
    from lstmcast.workflows import load_run

    sources, seen = [], set()
    for path in paths:
        if path.is_dir():
            run = load_run(path)
            source = ModelSource(path.name, run.config, run)
        elif path.suffix in {".yaml", ".yml"}:
            source = ModelSource(path.stem, load_config(path))
        else:
            raise ConfigError(f"{path}: neither a run directory nor a .yaml config")
        while source.name in seen or source.name in BASELINES:
            source.name += "'"
        seen.add(source.name)
        sources.append(source)
    return sources


def backtest(request: BacktestRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
             notice: Callable[[str], None] = lambda message: None) -> BacktestOutcome:
    from lstmcast import evaluation as ev
    from lstmcast import forecast as fc
    from lstmcast.workflows import load_series_for

    started = time.perf_counter()
    sources = resolve_sources(request.sources)
    targets = {s.config.data.target for s in sources}
    if len(targets) > 1:
        raise ConfigError(f"the models forecast different columns ({', '.join(sorted(targets))}); backtest one target")
    horizons = {s.name: s.config.data.horizon for s in sources}
    horizon = min(horizons.values())
    if len(set(horizons.values())) > 1:
        notice(f"horizons differ ({horizons}); all are scored on the first {horizon} steps")
    series = {s.name: load_series_for(s.config, request.data_path) for s in sources}
    first = series[sources[0].name]
    history = first.values.iloc[:, 0].to_numpy()
    origin_rows = _origin_rows(first, sources[0], request, horizon)
    frequency = fc.infer_frequency(first.dates)
    season = request.season or SEASONS.get(frequency, 1)
    forecasts: dict[str, np.ndarray] = {}
    total = sum(len(_refit_groups(origin_rows, request.refit)) if s.run is None or request.refit != "never" else 1
                for s in sources)
    done = 0

    def progress() -> None:
        nonlocal done
        done += 1
        on_progress(done, total)

    for source in sources:
        forecasts[source.name] = _model_forecasts(source, series[source.name], first.dates[origin_rows], request,
                                                  horizon, notice, progress)
    forecasts["random_walk"] = fc.random_walk(history, origin_rows, horizon)
    forecasts["drift"] = fc.drift(history, origin_rows, horizon)
    forecasts["seasonal_naive"] = fc.seasonal_naive(history, origin_rows, horizon, season)
    forecasts["historical_mean"] = fc.historical_mean(history, origin_rows, horizon)
    statistical = _ets_forecasts(history, origin_rows, horizon, request.refit)
    if statistical is None:
        notice("statsmodels is not installed: the ETS baseline is skipped (pip install 'lstmcast[stats]')")
    else:
        forecasts["ets"] = statistical
    actual = fc.actuals(history, origin_rows, horizon)
    anchor = history[origin_rows]
    scale = fc.naive_scale(history[: origin_rows[0] + 1])
    overall = {name: fc.metrics(actual, values, anchor, scale=scale) for name, values in forecasts.items()}
    by_step = {name: ev.per_step(actual, values, anchor, scale=scale) for name, values in forecasts.items()}
    rw_rmse = overall["random_walk"]["rmse"]
    for name in forecasts:
        overall[name]["skill"] = ev.skill(overall[name]["rmse"], rw_rmse)
        for k, row in enumerate(by_step[name]):
            row["skill"] = ev.skill(row["rmse"], by_step["random_walk"][k]["rmse"])
    dm = _dm_tests(forecasts, actual, request.step)
    for name, test in dm.items():
        overall[name]["dm_p_value"] = test["overall"]["p_value"]
    outcome = BacktestOutcome(
        names=list(forecasts), origin_dates=[str(d.date()) for d in first.dates[origin_rows]], horizon=horizon,
        season=season, overall=overall, by_step=by_step, diebold_mariano=dm, seconds=0.0,
    )
    if request.out is not None:
        _write_report(request, outcome, first, origin_rows, actual, forecasts)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _origin_rows(series, source: ModelSource, request: BacktestRequest, horizon: int) -> np.ndarray:
    """Raw-row indices of the forecast origins: the test split by default, or from a date, or the last N."""
    from lstmcast.preprocess import rows_consumed, split_ends

    dates = series.dates
    lookback = max(source.config.data.lookback, 1)
    offset = rows_consumed(source.config.data)
    last = len(dates) - 1 - horizon  # the last origin whose whole horizon is known
    earliest = lookback - 1 + offset
    if request.date_from is not None:
        first = int(np.searchsorted(dates.to_numpy(), np.datetime64(request.date_from)))
    elif request.origins is not None:
        first = last - (request.origins - 1) * request.step
    else:
        _, test_start = split_ends(dates[offset:], source.config.data.split)
        first = test_start + offset - 1  # the first origin whose first target is a test row
    first = max(first, earliest)
    if first > last:
        raise DataError(f"{series.path}: no origin leaves room for the {horizon}-step horizon; move --from earlier "
                        "or ask for fewer --origins")
    return np.arange(first, last + 1, request.step)


def _ets_forecasts(history: np.ndarray, origin_rows: np.ndarray, horizon: int, refit: str) -> np.ndarray | None:
    """ETS refitted on the same schedule as the models: parameters from history up to each group's first origin."""
    import warnings

    from lstmcast import forecast as fc

    parts = []
    for group in _refit_groups(origin_rows, refit):
        with warnings.catch_warnings():  # statsmodels warns about convergence on short histories; the fit stands
            warnings.simplefilter("ignore")
            values = fc.ets(history, group, horizon, fit_until=int(group[0]))
        if values is None:
            return None
        parts.append(values)
    return np.concatenate(parts)


def _refit_groups(origin_rows: np.ndarray, refit: str) -> list[np.ndarray]:
    if refit == "never":
        return [origin_rows]
    every = 1 if refit == "every" else int(refit)
    return [origin_rows[i : i + every] for i in range(0, len(origin_rows), every)]


def _model_forecasts(source: ModelSource, series, origin_dates, request: BacktestRequest, horizon: int,
                     notice, progress) -> np.ndarray:
    """Forecasts [origins, horizon] in the user's units for one model."""
    from lstmcast.preprocess import Scaler, prepare

    data = source.config.data
    if source.run is not None and request.refit == "never":
        prepared = prepare(series, data, scaler=Scaler.from_json(source.run.meta["scaler"]))
        rows = _rows_for(prepared, origin_dates, source.name)
        trained_until = np.datetime64(source.run.meta["target_dates"]["train"][1])
        if origin_dates[0] < trained_until:
            notice(f"{source.name}: origins before {str(trained_until)[:10]} lie in its training period, so it has "
                   "seen their targets; start later (--from) for an honest score")
        result = _forecast(source.run.model, prepared, rows, horizon)
        progress()
        return result
    parts = []
    for group in _refit_groups(np.arange(len(origin_dates)), request.refit):
        model, scaler = _fit_on_history(source.config, series, origin_dates[group[0]])
        prepared = prepare(series, data, scaler=scaler)
        parts.append(_forecast(model, prepared, _rows_for(prepared, origin_dates[group], source.name), horizon))
        progress()
    return np.concatenate(parts)


def _rows_for(prepared, origin_dates, name: str) -> np.ndarray:
    rows = np.searchsorted(prepared.dates.to_numpy(), origin_dates.to_numpy())
    if (rows >= len(prepared.dates)).any() or not (prepared.dates[np.minimum(rows, len(prepared.dates) - 1)]
                                                   == origin_dates).all() or rows[0] < prepared.lookback - 1:
        raise DataError(f"{name}: some origins are not rows of its data (or come before its first full window)")
    return rows


def _forecast(model, prepared, rows: np.ndarray, horizon: int) -> np.ndarray:
    """One batched pass over all origins' windows (views into one tensor, gathered once)."""
    import torch

    from lstmcast import forecast as fc

    span = np.arange(rows[0], rows[-1] + 1)
    x, _ = prepared.windows(span)
    scaled = fc.predict_scaled(model, x[torch.from_numpy(rows - rows[0])], batch_size=2048)[:, :horizon]
    return fc.to_user_units(prepared, scaled, rows)


def _fit_on_history(config, series, until) -> tuple[Any, Any]:
    """Train the config on rows up to and including `until` (an expanding window): scaler and weights alike."""
    import torch

    from lstmcast.data import Series
    from lstmcast.models import build_model
    from lstmcast.preprocess import prepare, rows_consumed
    from lstmcast.training import train

    keep = series.dates <= until
    history = Series(series.dates[keep], series.values[keep], series.path, series.sha256)
    data, t = config.data, config.training
    rows = int(keep.sum()) - rows_consumed(data)
    fraction = data.split.validation if isinstance(data.split.validation, float) else 0.15
    train_end = rows - max(int(round(rows * fraction)), data.horizon)
    prepared = prepare(history, data, ends=(train_end, rows))
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    model = build_model(config.model, input_size=len(prepared.columns), horizon=prepared.horizon)
    windows = prepared.split_windows(("train", "validation"))
    train(model, windows["train"], windows["validation"], t, teacher_forcing=getattr(config.model, "teacher_forcing", 0.0))
    return model.eval(), prepared.scaler


def _dm_tests(forecasts: dict[str, np.ndarray], actual: np.ndarray, step: int) -> dict[str, dict[str, Any]]:
    """Each forecaster against the random walk, per horizon step and on the mean squared error over the steps."""
    from lstmcast.evaluation import diebold_mariano

    naive = (forecasts["random_walk"] - actual) ** 2
    horizon = actual.shape[1]
    tests = {}
    for name, values in forecasts.items():
        if name == "random_walk":
            continue
        loss = (values - actual) ** 2
        tests[name] = {
            "overall": diebold_mariano(loss.mean(axis=1), naive.mean(axis=1), lags=math.ceil(horizon / step) - 1),
            "by_step": [diebold_mariano(loss[:, k], naive[:, k], lags=math.ceil((k + 1) / step) - 1)
                        for k in range(horizon)],
        }
    return tests


def _write_report(request, outcome, series, origin_rows, actual, forecasts) -> None:
    import json

    import pandas as pd

    from lstmcast import persistence as files
    from lstmcast import plots

    horizon = outcome.horizon
    dates = series.dates
    steps = np.arange(1, horizon + 1)
    target_rows = origin_rows[:, None] + steps[None, :]
    long = pd.DataFrame({
        "origin": np.repeat(dates[origin_rows].strftime("%Y-%m-%d"), horizon),
        "step": np.tile(steps, len(origin_rows)),
        "date": dates[target_rows.reshape(-1)].strftime("%Y-%m-%d"),
        "actual": actual.reshape(-1),
        **{name: values.reshape(-1) for name, values in forecasts.items()},
    })
    rows = []
    for name in outcome.names:
        rows.append({"model": name, "step": "all", **outcome.overall[name]})
        rows += [{"model": name, "step": k + 1, **row} for k, row in enumerate(outcome.by_step[name])]
    report = {
        "target": series.target, "data": {"path": str(series.path), "sha256": series.sha256},
        "sources": [str(p) for p in request.sources], "refit": request.refit, "step": request.step,
        "horizon": horizon, "season": outcome.season, "origins": len(origin_rows),
        "first_origin": outcome.origin_dates[0], "last_origin": outcome.origin_dates[-1],
        "overall": outcome.overall, "by_step": outcome.by_step, "diebold_mariano_vs_random_walk":
            outcome.diebold_mariano,
    }
    with files.atomic_path(request.out, force=request.force) as temp:
        temp.mkdir()
        long.to_csv(temp / "forecasts.csv", index=False)
        pd.DataFrame(rows).to_csv(temp / "metrics.csv", index=False)
        (temp / "report.json").write_text(json.dumps(report, indent=2))
        plots.error_by_step(temp / "error_by_step.png", {n: [r["rmse"] for r in outcome.by_step[n]]
                                                        for n in outcome.names}, target=series.target)
        plots.forecast_vs_actual(
            temp / "forecasts.png", dates[origin_rows + 1], actual[:, 0],
            {f"{name} (1 step ahead)": values[:, 0] for name, values in forecasts.items()
             if name in outcome.names[: len(request.sources)] or name == "random_walk"},
            context_dates=dates[max(0, origin_rows[0] - len(origin_rows)) : origin_rows[0] + 2],
            context=series.values.iloc[max(0, origin_rows[0] - len(origin_rows)) : origin_rows[0] + 2, 0].to_numpy(),
            title=f"Backtest: {series.target}, one step ahead from {len(origin_rows)} origins", ylabel=series.target)
