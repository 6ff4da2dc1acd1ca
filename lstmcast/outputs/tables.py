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
                          "pit.png", "skill.png"})


def forecast_csv(target: str, dates: Sequence[Any], values: Sequence[float], *,
                 intervals: Optional[dict[str, tuple[list, list]]] = None) -> str:
    """step,date,<target>, then lower_L,upper_L per interval level: one row per forecast step (values written
    exactly, with repr; an empty cell where a step has no interval)."""
    header, rows = _forecast_rows(target, dates, values, intervals or {})
    return _csv_text([header, *rows])


def panel_forecast_csv(forecasts: Sequence[Any]) -> str:
    """A panel's forecasts in one file: a `series` column, then each series' forecast_csv rows (steps numbered from
    1 for each series)."""
    table = []
    for forecast in forecasts:
        header, rows = _forecast_rows(forecast.target, forecast.dates, forecast.values, forecast.intervals)
        table += [["series", *header]] if not table else []
        table += [[forecast.series, *row] for row in rows]
    return _csv_text(table)


def _forecast_rows(target: str, dates: Sequence[Any], values: Sequence[float],
                   intervals: dict[str, tuple[list, list]]) -> tuple[list[str], list[list[Any]]]:
    header = [*FORECAST_HEADER, target, *(f"{side}_{level}" for level in intervals for side in SIDES)]
    rows = [[index + 1, str(day), repr(float(value)),
             *(_cell(bound[index]) for lower, upper in intervals.values() for bound in (lower, upper))]
            for index, (day, value) in enumerate(zip(dates, values))]
    return header, rows


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


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
    panel = bool(rows) and rows[0][:1] == ["series"]  # panel_forecast_csv's: steps count within each series
    keys = [row[0] if row else "" for row in rows] if panel else [""] * len(rows)
    body = [row[1:] for row in rows] if panel else rows
    if len(body) < 2 or not _forecast_header(body[0]) or (panel and not all(keys[1:])):
        return False
    steps: dict[str, int] = {}
    for key, row in zip(keys[1:], body[1:]):
        steps[key] = steps.get(key, 0) + 1
        if not _forecast_row(row, steps[key], len(body[0])):
            return False
    return True


def _forecast_header(header: list[str]) -> bool:
    """step,date,<target>, then lower_L,upper_L pairs."""
    if len(header) < 3 or len(header) % 2 == 0 or tuple(header[:2]) != FORECAST_HEADER:
        return False
    names = header[3:]
    return names == [f"{side}_{name[6:]}" for name in names[::2] for side in SIDES] and \
        all(INTERVAL_COLUMN.fullmatch(name) for name in names)


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
