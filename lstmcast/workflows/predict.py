"""lstmcast predict: a trained run + a CSV -> the next steps after its last row (or after --as-of), dated, in the
user's units; with the actual values where the CSV already holds them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from lstmcast.data.calendar import check_gaps
from lstmcast.data.panelprep import static_codes
from lstmcast.data.windows import prepare
from lstmcast.errors import ConfigError, DataError
from lstmcast.evaluation.conformal import cqr_interval, distributional_levels, head_pairs, interval, split_conformal
from lstmcast.forecasting.predict import forecast_scaled, to_user_units
from lstmcast.forecasting.sampling import DEFAULT_SAMPLES, is_probabilistic, sample_paths
from lstmcast.introspect.drift import forecast_drift, unusual_notice
from lstmcast.outputs.forecastfiles import Forecast, recent_history
from lstmcast.runs.load import chosen_series, open_run, run_panel, run_series

MIN_SAMPLES, MAX_SAMPLES = 10, 1_000_000


def predict_run(run_dir: Path, *, data_path: Optional[Path] = None, horizon: Optional[int] = None,
                overrides: Optional[list[str]] = None, as_of: Optional[dt.date] = None,
                levels: Optional[list[float]] = None, samples: Optional[int] = None, seed: int = 0) -> Forecast:
    """Forecast `horizon` steps (default: the trained horizon) after the CSV's last row, or after its last row on or
    before `as_of` (the rest of the CSV is not read by the model; it only fills `actual`). A probabilistic head's
    intervals come from `samples` paths drawn with `seed`."""
    run = open_run(run_dir)
    if run.is_panel:
        raise ConfigError(f"{run_dir} is a panel run (one model over {len(run.meta.panel.series)} series); "
                          "forecast it with predict_panel, or on the command line with --series NAME[,NAME...]")
    _check_series(run, overrides or [], levels or [])
    _check_sampling(run, levels or [], samples)
    full = run_series(run, data_path, overrides=overrides, command="predict")
    settings = _Settings(horizon, as_of, levels or [], samples, seed)
    return forecast_series(run, full, run.scaler, run.meta.conformal, settings, notices=run.notices)


@dataclass(frozen=True)
class _Settings:
    horizon: Optional[int]
    as_of: Optional[dt.date]
    levels: list[float]
    samples: Optional[int]
    seed: int


def forecast_series(run, full, scaler, conformal, settings: _Settings, *, notices: list[str],
                    statics: tuple[tuple[int, int], ...] = ()) -> Forecast:
    """One series' forecast from a run: `full` is the series as read (rows after --as-of give the actuals only),
    `scaler`, `conformal` and static covariate codes that series' own."""
    series = full
    if settings.as_of is not None:  # what was known then: the model reads nothing after it
        series = full.until(pd.Timestamp(settings.as_of))
        if len(series.dates) == 0:
            raise DataError(f"{full.where}: no rows on or before {settings.as_of} (the data starts "
                            f"{full.dates[0].date()}); choose a later --as-of date")
        if settings.as_of > full.dates[-1].date():
            notices = notices + [f"--as-of {settings.as_of} is after the CSV's last row ({full.dates[-1].date()}): "
                                 "the forecast is made from that row, with no actuals beside it"]
    prepared = prepare(series, run.config.data, scaler=scaler, calendar=run.calendar, statics=statics)
    check_gaps(series.dates, run.calendar, steps=prepared.lookback, what=series.where)
    steps = settings.horizon or run.meta.horizon
    x = prepared.tensor()[-prepared.lookback:][None]  # [1, lookback, F]
    origin = np.array([len(prepared.dates) - 1])
    values = to_user_units(prepared, forecast_scaled(run.model, x, steps), origin)[0]
    paths = None
    if settings.levels and is_probabilistic(run.model):
        paths = sample_paths(run.model, prepared, x, origin, samples=settings.samples or _calibrated(conformal),
                             steps=min(steps, run.meta.horizon), seed=settings.seed)[0]  # [H, samples]
    if not np.isfinite(values).all():
        raise DataError(f"{series.where}: the forecast is not finite ({values.tolist()[:5]}); the input data may be "
                        "extreme")
    drift, no_drift = forecast_drift(run.model, prepared, x, run.meta.target_dates["train"])
    notices = notices + list(series.notices) + _notices(run, steps, series.dates[-1].date()) + \
        ([no_drift] if no_drift else []) + ([unusual_notice(drift)] if drift and drift["unusual"] else [])
    dates = [d.date() for d in run.calendar.following(series.dates[-1], steps)]
    return Forecast(
        target=run.meta.target, last_date=series.dates[-1].date(), last_value=float(prepared.raw[-1, 0]),
        dates=dates, values=values.tolist(), calendar=run.calendar.describe(), notices=notices,
        actual=_actuals(full, dates) if settings.as_of is not None else None,
        **recent_history(series.dates, series.values), series=full.name, drift=drift,
        **_intervals(run, conformal, values, settings.levels, paths),
    )


def _intervals(run, conformal, values: np.ndarray, levels: list[float], paths: Optional[np.ndarray]) -> dict:
    """Forecast fields `intervals` and `interval_method`: conformal intervals from the evaluated model's validation
    scores (None past the trained horizon): split conformal around a point head's forecast; on a probabilistic head's
    sample paths, CQR at a quantile head's own level pairs and distributional conformal at any other level."""
    if levels and conformal is None:
        raise ConfigError("--levels: this run records no validation residuals (trained by lstmcast before 0.2); "
                          "retrain it to get intervals")
    result, trained, cqr = {}, min(len(values), run.meta.horizon), []
    for level in levels:
        alpha, key = 1 - level / 100, f"{level:g}"
        if paths is None:
            half = split_conformal(np.array(conformal.scores).T[:, :trained], alpha)
            lower, upper = interval(values[:trained], half, conformal.scale)
        else:
            lower, upper = _on_paths(conformal, paths, key, alpha, run.config.model.head.levels or (), trained)
            cqr += [key] if conformal.cqr and key in conformal.cqr else []
        if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
            raise ConfigError(f"--levels {level:g}: {len(conformal.scores[0])} validation windows are too few "
                              f"for a {level:g}% interval; choose a lower level")
        pad = [None] * (len(values) - trained)
        result[key] = (lower.tolist() + pad, upper.tolist() + pad)
    method = _method(run, paths, cqr, len(levels)) if levels else None
    return {"intervals": result, "interval_method": method}


def _on_paths(conformal, paths: np.ndarray, key: str, alpha: float, head_levels, trained: int) -> tuple:
    """Bounds [trained] from sample paths [H, S]: CQR where the quantile head has this level's pair, else
    distributional conformal (infinite bounds when the validation windows are too few for the level)."""
    if conformal.cqr and key in conformal.cqr:
        low, high = head_pairs(head_levels)[key]
        scores = np.array(conformal.cqr[key]).T[:, :trained]
        lower, upper = (np.quantile(paths[:trained], level, axis=-1) for level in (low, high))
        return cqr_interval(lower, upper, scores, alpha, conformal.cqr_scale)
    scores = np.array(conformal.scores).T[:, :trained]
    low, high = distributional_levels(scores, alpha)
    if np.isfinite(low).all() and not (low > 0).all():  # enough windows, but too many targets outside every path
        raise ConfigError(f"--levels {key}: on the validation windows more than {100 * alpha:g}% of the targets fell "
                          "outside all of the head's sample paths, so no quantile of its paths gives a calibrated "
                          f"{key}% interval (its spread is too narrow); choose a lower level, or retrain")
    if not (low > 0).all():
        return np.full(trained, -np.inf), np.full(trained, np.inf)
    return tuple(np.array([np.quantile(paths[k], min(max(level[k], 0.0), 1.0)) for k in range(trained)])
                 for level in (low, high))


def _calibrated(conformal) -> int:
    """Paths per window the conformal scores were computed on: predict draws at least as many."""
    return (conformal and conformal.samples) or DEFAULT_SAMPLES


def _check_sampling(run, levels: list[float], samples: Optional[int]) -> None:
    if samples is None:
        return
    if not MIN_SAMPLES <= samples <= MAX_SAMPLES:
        raise ConfigError(f"samples: {samples} is outside {MIN_SAMPLES}..{MAX_SAMPLES:,}; 1000 is the default")
    calibrated = max([_calibrated(conformal) for conformal in _conformals(run)], default=DEFAULT_SAMPLES)
    if levels and is_probabilistic(run.model) and samples < calibrated:
        raise ConfigError(f"--samples {samples}: the intervals were calibrated on {calibrated} paths per "
                          "validation window; fewer paths put the outer levels on a few draws and make the intervals "
                          f"too narrow; use at least {calibrated}")
    if not is_probabilistic(run.model):
        raise ConfigError(f"--samples: {run.path.name} has a point head, so there are no paths to sample; its "
                          "--levels intervals are split conformal around the forecast (drop --samples)")
    if not levels:
        raise ConfigError("--samples sets how many paths the --levels intervals come from; add --levels, e.g. 80,95")


def _conformals(run) -> list:
    if run.meta.panel is None:
        return [run.meta.conformal]
    return [member.conformal for member in run.meta.panel.series.values()]


def _method(run, paths: Optional[np.ndarray], cqr: list[str], count: int) -> str:
    """How the intervals were made, in words: from what `_intervals` did at each level."""
    if paths is None:
        return "split conformal on the evaluated model's validation residuals"
    if cqr:
        rest = "; distributional conformal at the other levels" if len(cqr) < count else ""
        return (f"CQR at the quantile head's own levels ({', '.join(cqr)}%) on {paths.shape[-1]} sample paths{rest}, "
                "calibrated on the evaluated model's validation windows")
    return (f"distributional conformal on {paths.shape[-1]} sample paths of the {run.config.model.head.kind} head, "
            "calibrated on the evaluated model's validation PIT")


def _check_series(run, overrides: list[str], levels: list[float]) -> None:
    """A series is chosen only from a long CSV; intervals come from the trained series' residuals (another series
    has its own volatility)."""
    asked = [item.split("=", 1)[1].strip() for item in overrides if item.strip().startswith("data.series=")]
    trained = run.config.data.series
    if asked and run.config.data.series_column is None:
        raise ConfigError(f"--series (data.series) picks one series of a CSV in long form or of a panel run; "
                          f"{run.path} reads a CSV holding one series: leave it out")
    if levels and asked and asked[-1] != (trained or ""):
        raise ConfigError(f"--levels: the recorded residuals are those of series {trained!r}, so intervals for "
                          f"{asked[-1]!r} would carry the wrong volatility; drop --levels, or train on {asked[-1]!r}")


def _notices(run, steps: int, last: dt.date) -> list[str]:
    notices = []
    if steps > run.meta.horizon:
        notices.append(f"the model was trained for {run.meta.horizon} steps; steps beyond feed its own forecasts back")
    if last < run.meta.trained_until:
        notices.append(f"the model saw targets up to {run.meta.trained_until} while training, after this forecast's "
                       f"last input date {last}: as a check of past forecasts this is optimistic")
    return notices


def _actuals(series, dates: list[dt.date]) -> list[Optional[float]]:
    known = pd.Series(series.values.iloc[:, 0].to_numpy(), index=series.dates.date)
    return [float(known[d]) if d in known.index else None for d in dates]


def predict_panel(run_dir: Path, *, data_path: Optional[Path] = None, horizon: Optional[int] = None,
                  overrides: Optional[list[str]] = None, as_of: Optional[dt.date] = None,
                  levels: Optional[list[float]] = None, samples: Optional[int] = None, seed: int = 0,
                  series: Optional[list[str]] = None) -> list[Forecast]:
    """One forecast per series, in the panel's order (or the order of `series`)."""
    run = open_run(run_dir)
    if run.meta.panel is None:
        raise ConfigError(f"{run_dir} holds a single-series model; --series NAME then reads another series of its "
                          "long file (one name)")
    trained, chosen = run.meta.panel.series, chosen_series(run, series)
    _check_sampling(run, levels or [], samples)
    panel = run_panel(run, data_path, overrides=overrides, command="predict", only=chosen)
    settings = _Settings(horizon, as_of, levels or [], samples, seed)
    scalers, codes = run.scalers, static_codes(panel, run.meta.panel.statics, run.config.data)
    return [forecast_series(run, panel.members[name], scalers[name], trained[name].conformal, settings,
                            notices=run.notices if position == 0 else [], statics=codes[name])
            for position, name in enumerate(chosen)]
