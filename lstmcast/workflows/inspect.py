"""lstmcast inspect: a trained run + a period -> one HTML report a person reads in a browser (forecasts beside the
states that made them, gate saturation and memory, what units track against controls, probes, attributions, state
drift), with the numbers behind it as CSV and JSON."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from lstmcast import __version__
from lstmcast.data.reading import Series, load_series
from lstmcast.data.windows import Prepared
from lstmcast.errors import ConfigError, DataError
from lstmcast.files.atomic import atomic_output, check_output
from lstmcast.forecasting.predict import predict_scaled, to_user_units
from lstmcast.introspect.arrays import Context
from lstmcast.introspect.drift import MIN_REFERENCE, reference_rows
from lstmcast.introspect.inspection import Inspection, analyse
from lstmcast.introspect.period import PeriodStates, record_period
from lstmcast.introspect.tracking import cluster_order
from lstmcast.outputs.inspectpage import sections, tables
from lstmcast.outputs.inspectreport import is_report, render, write_report
from lstmcast.runs.load import Run, chosen_series, open_run, run_data, run_members

MIN_WINDOWS = 20  # fewer inspected windows make every statistic noise


@dataclass
class InspectRequest:
    run_dir: Path
    out: Optional[Path] = None  # default RUN/inspect
    data_path: Optional[Path] = None
    date_from: Optional[dt.date] = None  # first forecast origin inspected (default: the first test window's)
    date_to: Optional[dt.date] = None
    series: Optional[str] = None  # a panel run's series
    attributed: int = 32  # windows attributed (evenly spaced over the period)
    force: bool = False
    overrides: list[str] = field(default_factory=list)


@dataclass
class InspectOutcome:
    folder: Path
    summary: dict[str, Any]


def inspect_run(request: InspectRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
                notice: Callable[[str], None] = lambda message: None) -> InspectOutcome:
    started = time.perf_counter()
    run = open_run(request.run_dir)  # first: a path that is no run is named as such, whatever --out holds
    out = request.out or request.run_dir / "inspect"
    check_output(out, force=request.force, what="an inspection report", recognise=is_report)
    for message in run.notices:
        notice(message)
    series, prepared = _data(run, request)
    context = Context.build(prepared, run.calendar.following(prepared.dates[-1], run.meta.horizon), stream=False)
    rows = _period(run, prepared, request)
    data_notes = list(series.notices) + context.gap_notice(rows, run.calendar, what=series.where)
    train_rows = _training_rows(run, prepared)
    period = record_period(run.model, context, rows, on_progress=on_progress)
    inspection = analyse(run.model, prepared, period, train_rows=train_rows,
                         train_last=pd.Timestamp(run.meta.target_dates["train"][1]),
                         volume=_volume(run, series, prepared), errors=_errors(run, prepared, period, train_rows),
                         attributed=request.attributed)
    inspection.notes[:0] = data_notes  # in the report and summary.json, and printed after it is written
    if run.meta.final_fit is not None:
        inspection.notes.append(f"{run.path} was refit on every row up to {run.meta.final_fit.last_date} (train "
                                "--final): the model itself has seen the inspected period; the probes are still "
                                "fitted on the training split only")
    orders = [cluster_order(period.c[:, layer]) for layer in range(period.c.shape[1])]
    summary = _summary(run, series, period, inspection, orders)
    page = render(f"lstmcast inspect: {run.path.name} ({run.meta.target})", _header(summary),
                  sections(run.meta, prepared.columns, period, inspection, orders))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    with atomic_output(out, force=request.force, what="an inspection report", recognise=is_report,
                       directory=True) as folder:
        write_report(folder, page, summary, tables(period, inspection))
    return InspectOutcome(out, summary)


def _data(run: Run, request: InspectRequest) -> tuple[Series, Prepared]:
    if not run.is_panel:
        if request.series is not None:
            raise ConfigError(f"--series picks a series of a panel run; {run.path} holds one series")
        return run_data(run, request.data_path, overrides=request.overrides, command="inspect")
    if request.series is None:
        names = ", ".join(list(run.meta.panel.series)[:10])  # type: ignore[union-attr]
        raise ConfigError(f"{run.path} is a panel run: inspect reads one series at a time; add --series ID "
                          f"(one of {names}{', ...' if len(run.meta.panel.series) > 10 else ''})")  # type: ignore
    name = chosen_series(run, [request.series])[0]
    return run_members(run, [name], request.data_path, overrides=request.overrides, command="inspect")[name]


def _training_rows(run: Run, prepared: Prepared) -> np.ndarray:
    """The run's training windows, found by their target dates in this CSV (at most 4,000, evenly spaced: the ones
    predict's drift flag uses)."""
    first, last = run.meta.target_dates["train"]
    rows = reference_rows(prepared, (first, last))
    if len(rows) < MIN_REFERENCE:
        raise DataError(f"the CSV holds {len(rows)} of the run's training windows (targets {first} .. {last}); "
                        f"inspect fits its probes and drift reference on them and needs at least {MIN_REFERENCE}: "
                        "give a CSV with the training rows (--data)")
    return rows


def _period(run: Run, prepared: Prepared, request: InspectRequest) -> np.ndarray:
    """The window ends inspected: from --from (default: the first test window's end, the row before the run's first
    test target) to --to (default: the last row), never before the first full window."""
    dates = prepared.dates.to_numpy()
    rows = np.arange(prepared.lookback - 1, len(dates))
    test_first = np.datetime64(run.meta.target_dates["test"][0])
    first = np.datetime64(request.date_from) if request.date_from else \
        dates[max(int(np.searchsorted(dates, test_first)) - 1, 0)]
    rows = rows[dates[rows] >= first]
    if request.date_to:
        rows = rows[dates[rows] <= np.datetime64(request.date_to)]
    if len(rows) < MIN_WINDOWS:
        raise DataError(f"{len(rows)} window(s) end between {str(first)[:10]} and "
                        f"{request.date_to or str(dates[-1])[:10]}; inspect needs at least {MIN_WINDOWS} (the data "
                        f"runs {str(dates[0])[:10]} .. {str(dates[-1])[:10]}): widen --from/--to")
    return rows


def _errors(run: Run, prepared: Prepared, period: PeriodStates, rows: np.ndarray) -> np.ndarray:
    """[M] the one-step forecast made at each training origin `rows` and inspected origin minus the next actual
    value, in the user's units (NaN elsewhere and past the data)."""
    errors = np.full(len(prepared.raw), np.nan)
    forecast = to_user_units(prepared, predict_scaled(run.model, prepared.windows_at(rows)), rows)[:, 0]
    errors[rows] = forecast - prepared.raw[rows + 1, 0]
    errors[period.rows] = period.prediction[:, 0] - period.target[:, 0]
    return errors


def _volume(run: Run, series: Series, prepared: Prepared) -> Optional[np.ndarray]:
    """A column named volume (any case) in the model's columns or the CSV, aligned with the prepared rows."""
    for index, column in enumerate(prepared.columns):
        if column.lower() == "volume":
            return prepared.raw[:, index]
    data = run.config.data
    try:
        header = pd.read_csv(series.path, sep=data.sep, nrows=0).columns
    except (OSError, ValueError):
        return None
    found = [column for column in header if str(column).strip().lower() == "volume"]
    if not found or data.date_column not in header:
        return None
    try:
        extra = load_series(series.path, date_column=data.date_column, columns=[found[0]], missing="drop",
                            series_column=data.series_column, series=series.name or data.series, sep=data.sep,
                            decimal=data.decimal, date_format=data.date_format, show_header=False)
    except (DataError, ConfigError):
        return None
    return extra.values.set_index(extra.dates).iloc[:, 0].reindex(prepared.dates).to_numpy(dtype=np.float64)


def _summary(run: Run, series: Series, period: PeriodStates, inspection: Inspection,
             orders: list[np.ndarray]) -> dict[str, Any]:
    attribution, drift = inspection.attribution, inspection.drift
    return {
        "lstmcast_version": __version__, "run_dir": str(run.path), "data": str(series.path),
        "series": series.name, "target": run.meta.target, "model_kind": run.meta.model_kind,
        "first_origin": str(period.dates[0])[:10], "last_origin": str(period.dates[-1])[:10],
        "windows": int(len(period.rows)), "lookback": run.meta.lookback, "horizon": run.meta.horizon,
        "self_check": {key: float(value) for key, value in period.checks.items()},
        "integrated_gradients": {"windows": int(len(inspection.attributed_rows)),
                                 "max_relative_residual": float(attribution.residual.max()),
                                 "mean_relative_residual": float(attribution.residual.mean())},
        "drift": {"threshold": inspection.drift_threshold, "last_distance": float(drift["distance"].iloc[-1]),
                  "last_training_quantile": float(drift["training_quantile"].iloc[-1]),
                  "unusual_share": float(drift["unusual"].mean())},
        "quantities": inspection.about, "notes": inspection.notes,
        "unit_order": {f"layer {layer}": order.tolist() for layer, order in enumerate(orders)},
    }


def _header(summary: dict[str, Any]) -> list[str]:
    check = max(summary["self_check"].values(), default=float("nan"))
    series = f" series {summary['series']}" if summary["series"] else ""
    return [f"Run {summary['run_dir']} ({summary['model_kind']}, lookback {summary['lookback']}, horizon "
            f"{summary['horizon']}) on {summary['data']}{series}: {summary['windows']} forecast origins from "
            f"{summary['first_origin']} to {summary['last_origin']}.",
            f"The recorded states match nn.LSTM's own output, h_n and c_n, and the gates explain them, to {check:.1e}.",
            *(f"Note: {line}" for line in summary["notes"])]
