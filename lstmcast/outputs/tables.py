"""Files of numbers for people and scripts: the forecast CSV and the backtest report directory, each recognisable as
lstmcast's own (so --force replaces only them)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from lstmcast.files.atomic import MARKER, marker_kind, write_marker
from lstmcast.files.reading import MiB, holds_only, peek_json, peek_regular

REPORT_KIND = "report"
FORECAST_HEADER = ("step", "date")
SIDES = ("lower", "upper")
INTERVAL_COLUMN = re.compile(r"(lower|upper)_\d{1,2}(\.\d{1,2})?")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
REPORT_FILES = frozenset({MARKER, "forecasts.csv", "metrics.csv", "report.json", "error_by_step.png", "forecasts.png",
                          "pit.png"})


def forecast_csv(target: str, dates: Sequence[Any], values: Sequence[float], *,
                 intervals: Optional[dict[str, tuple[list, list]]] = None) -> str:
    """step,date,<target>, then lower_L,upper_L per interval level: one row per forecast step (values written
    exactly, with repr; an empty cell where a step has no interval)."""
    intervals = intervals or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FORECAST_HEADER, target, *(f"{side}_{level}" for level in intervals for side in SIDES)])
    for index, (day, value) in enumerate(zip(dates, values)):
        bounds = [_cell(bound[index]) for lower, upper in intervals.values() for bound in (lower, upper)]
        writer.writerow([index + 1, str(day), repr(float(value)), *bounds])
    return buffer.getvalue()


def panel_forecast_csv(forecasts: Sequence[Any]) -> str:
    """A panel's forecasts in one file: `series,` then each series' forecast_csv rows (steps numbered from 1 for
    each series)."""
    lines = []
    for index, forecast in enumerate(forecasts):
        text = forecast_csv(forecast.target, forecast.dates, forecast.values, intervals=forecast.intervals)
        rows = list(csv.reader(io.StringIO(text)))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows[0 if index == 0 else 1:]:
            writer.writerow(["series" if row is rows[0] else forecast.series, *row])
        lines.append(buffer.getvalue())
    return "".join(lines)


def _cell(value: Optional[float]) -> str:
    return "" if value is None else repr(float(value))


def is_forecast_csv(path: Path) -> bool:
    """A forecast lstmcast wrote: `step,date,<target>` and nothing but such rows, numbered from 1.

    0.1.0's `date,<target>` is not recognised: it cannot be told from a price file, which --force must never
    overwrite."""
    raw = peek_regular(path, limit=10 * MiB)
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8")))) if raw is not None else []
    except (UnicodeDecodeError, csv.Error):
        return False
    if rows and rows[0][:1] == ["series"]:
        return _is_panel_forecast(rows)
    if len(rows) < 2 or len(rows[0]) < 3 or len(rows[0]) % 2 == 0 or tuple(rows[0][:2]) != FORECAST_HEADER:
        return False
    names = rows[0][3:]
    if names != [f"{side}_{name[6:]}" for name in names[::2] for side in SIDES] or \
            not all(INTERVAL_COLUMN.fullmatch(name) for name in names):
        return False
    return all(_forecast_row(row, number, len(rows[0])) for number, row in enumerate(rows[1:], start=1))


def _is_panel_forecast(rows: list[list[str]]) -> bool:
    """panel_forecast_csv's output: a series column, then a forecast CSV's rows numbered from 1 within each series."""
    if len(rows) < 2 or len(rows[0]) < 4 or len(rows[0]) % 2 == 1 or tuple(rows[0][1:3]) != FORECAST_HEADER:
        return False
    names = rows[0][4:]
    if names != [f"{side}_{name[6:]}" for name in names[::2] for side in SIDES] or \
            not all(INTERVAL_COLUMN.fullmatch(name) for name in names):
        return False
    steps: dict[str, int] = {}
    for row in rows[1:]:
        if not row or not row[0]:
            return False
        steps[row[0]] = steps.get(row[0], 0) + 1
        if not _forecast_row(row[1:], steps[row[0]], len(rows[0]) - 1):
            return False
    return True


def _forecast_row(row: list[str], number: int, width: int) -> bool:
    """step number, an ISO date, a finite value, and finite bounds (empty past the trained horizon)."""
    if len(row) != width or row[0] != str(number) or not ISO_DATE.fullmatch(row[1]) or not row[2]:
        return False
    try:
        return all(math.isfinite(float(cell)) for cell in row[2:] if cell)
    except ValueError:
        return False


def write_report(folder: Path, report: dict[str, Any], forecasts: pd.DataFrame, metrics: pd.DataFrame) -> None:
    """A backtest report directory: forecasts.csv, metrics.csv, report.json (the PNGs are drawn beside them)."""
    forecasts.to_csv(folder / "forecasts.csv", index=False)
    metrics.to_csv(folder / "metrics.csv", index=False)
    (folder / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False))
    write_marker(folder, REPORT_KIND)


def is_report(path: Path) -> bool:
    """A backtest report lstmcast wrote (marked; or 0.1.0's, holding report.json with its sources)."""
    if not path.is_dir() or not holds_only(path, REPORT_FILES.__contains__):
        return False
    if marker_kind(path) == REPORT_KIND:
        return True
    report = peek_json(path / "report.json", limit=64 * MiB)
    return report is not None and "sources" in report and (path / "forecasts.csv").is_file()
