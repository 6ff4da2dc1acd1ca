"""CSV -> a dated, sorted, numeric frame; every refusal names the file, the column, the lines and the fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.data.dates import SHOWN, lines, parse_dates
from lstmcast.data.numbers import numeric
from lstmcast.data.table import Table, read_table
from lstmcast.errors import DataError, clean, quote


@dataclass(frozen=True)
class Series:
    """One dated numeric series: `values` columns are the target first, then the extra features, in config order."""

    dates: pd.DatetimeIndex
    values: pd.DataFrame
    path: Path
    sha256: str
    notices: tuple[str, ...] = field(default=())
    name: str | None = None  # the series id within a panel

    @property
    def where(self) -> str:
        """How messages name this series: the file, and the id within a panel."""
        return where(self.path, self.name)

    @property
    def target(self) -> str:
        return str(self.values.columns[0])

    def until(self, last: pd.Timestamp) -> "Series":
        """The rows up to and including `last` (what was known at that date)."""
        keep = self.dates <= last
        return Series(self.dates[keep], self.values[keep].reset_index(drop=True), self.path, self.sha256, self.notices,
                      self.name)


def where(path: Path, name: str | None) -> str:
    """How messages name a series: the file, and the id within a panel."""
    return f"{path} (series {clean(name, limit=40)})" if name else str(path)


def load_series_for(data: DataConfig, path: Path | None = None, *, show_header: bool = True) -> Series:
    """The series a data config describes (from `path` instead of data.path when given)."""
    return load_series(
        path or data.path, date_column=data.date_column, columns=data.columns, series_column=data.series_column,
        series=data.series, missing=data.missing, sep=data.sep, decimal=data.decimal, date_format=data.date_format,
        show_header=show_header,
    )


def load_series(
    path: Path,
    *,
    date_column: str,
    columns: list[str],
    series_column: str | None = None,
    series: str | None = None,
    missing: str = "error",
    sep: str = ",",
    decimal: str = ".",
    date_format: str | None = None,
    show_header: bool = True,
) -> Series:
    """Read `columns` (target first) from a CSV, select one series of a long file, parse dates, sort, check.

    show_header=False keeps the first line out of error messages: for a path that a run directory named (someone
    else's meta.json may point at a file of secrets), not one the user chose."""
    wanted = [date_column, *columns] + ([series_column] if series_column else [])
    table = read_table(path, wanted=wanted, sep=sep, show_header=show_header)
    frame = table.frame
    if series_column:
        frame = _select_series(frame, table.path, series_column, series)
    return series_from_frame(frame, table, date_column=date_column, columns=columns, missing=missing,
                             decimal=decimal, date_format=date_format)


def series_from_frame(frame: pd.DataFrame, table: Table, *, date_column: str, columns: list[str], missing: str,
                      decimal: str, date_format: str | None, name: str | None = None) -> Series:
    """One series from its rows of a table: dates parsed, values numeric, missing values handled, sorted, checked.
    Messages name the series (`name`) when the file holds several."""
    place = where(table.path, name)
    dates, notices = parse_dates(frame[date_column], place, date_column, date_format)
    values = pd.DataFrame({col: numeric(frame[col], place, col, decimal) for col in columns}, index=frame.index)
    return assemble(values, dates, table, notices=notices, date_column=date_column, missing=missing, name=name)


def assemble(values: pd.DataFrame, dates: pd.DatetimeIndex, table: Table, *, notices: list[str], date_column: str,
             missing: str, name: str | None = None) -> Series:
    """A series from its parsed rows (values indexed by CSV line): missing values handled, sorted, checked."""
    place, notices = where(table.path, name), list(notices)
    values, dates, dropped = _apply_missing(values, dates, place, missing)
    if dropped:
        notices.append(f"{place}: {dropped} row(s) with missing values were handled by missing={missing}")
    order = np.argsort(dates.to_numpy(), kind="stable")
    if not (order == np.arange(len(order))).all():
        notices.append(f"{place}: dates were not in order; sorted them (earliest first)")
        values, dates = values.iloc[order], dates[order]
    _check_duplicates(values, dates, place, date_column, table.header)
    if values.empty:
        raise DataError(f"{place}: no data rows left after cleaning; check data.missing")
    return Series(
        dates=pd.DatetimeIndex(dates, name="date"),
        values=values.set_axis(pd.RangeIndex(len(values))).astype("float64"),
        path=table.path,
        sha256=table.sha256,
        notices=tuple(notices),
        name=name,
    )


def _select_series(frame: pd.DataFrame, path: Path, column: str, series: str | None) -> pd.DataFrame:
    ids = frame[column].str.strip()
    available = list(dict.fromkeys(ids))
    listed = ", ".join(clean(name, limit=20) for name in available[:20]) + (", ..." if len(available) > 20 else "")
    if series is None:
        if len(available) == 1:
            return frame
        raise DataError(
            f"{path}: column {quote(column)} holds {len(available)} series ({listed}); choose one with data.series "
            f"(e.g. --set data.series={clean(available[0], limit=20)})"
        )
    selected = frame[ids == series]
    if selected.empty:
        close = difflib.get_close_matches(series, available, n=1)
        hint = f"did you mean {quote(close[0])}? " if close else ""
        raise DataError(f"{path}: no rows with {clean(column)} = {quote(series)}; {hint}the file holds {listed}")
    return selected


def _apply_missing(
    values: pd.DataFrame, dates: pd.DatetimeIndex, path: Path, policy: str
) -> tuple[pd.DataFrame, pd.DatetimeIndex, int]:
    holes = values.isna()
    if not holes.to_numpy().any():
        return values, dates, 0
    if policy == "error":
        column = str(holes.any().idxmax())
        at = values.index[holes[column]]
        raise DataError(
            f"{path}: column {quote(column)}: missing values on line(s) {lines(at)} ({int(holes[column].sum())} in "
            "all); fix the file, or set data.missing: ffill (carry the last value forward) or drop (remove those rows)"
        )
    rows = int(holes.any(axis=1).sum())
    if policy == "drop":
        keep = ~holes.any(axis=1).to_numpy()
        return values[keep], dates[keep], rows
    order = np.argsort(dates.to_numpy(), kind="stable")  # forward-fill in time order, never from the future
    filled = values.iloc[order].ffill().iloc[np.argsort(order, kind="stable")]
    leading = filled.isna().any(axis=1).to_numpy()
    return filled[~leading], dates[~leading], rows


def _check_duplicates(values: pd.DataFrame, dates: pd.DatetimeIndex, path: Path, column: str,
                      header: list[str]) -> None:
    duplicated = dates.duplicated(keep=False)
    if not duplicated.any():
        return
    group = pd.Series(values.index[duplicated], index=dates[duplicated])
    conflicting = values[duplicated].groupby(dates[duplicated]).nunique().max(axis=1).gt(1)
    kind = "with different values" if conflicting.any() else "(identical rows)"
    first = group.index[0]
    ids = [name for name in header if name.lower() in {"ticker", "symbol", "series", "id", "name", "unique_id"}]
    hint = f"; a long file of several series? set data.series_column: {ids[0]}" if ids else "; keep one row per date"
    raise DataError(
        f"{path}: column {quote(column)}: duplicate dates {kind}, e.g. {first.date()} on lines "
        f"{', '.join(str(i) for i in group[first][:SHOWN])}; all duplicated lines: {lines(values.index[duplicated])}"
        f"{hint}"
    )
