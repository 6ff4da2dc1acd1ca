"""Panels: several series read from one CSV for one global model, each checked exactly as a single series is and
named in every message. A long file holds a row per series and date (`data.series_column`); a wide file a column per
series (`data.layout: wide`). Series may start and end on different dates and have their own gaps."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.data.dates import parse_date_values, parse_dates
from lstmcast.data.numbers import numeric
from lstmcast.data.reading import Series, assemble, series_from_frame, where
from lstmcast.data.table import Table, read_table
from lstmcast.errors import DataError, clean, quote

MAX_SERIES = 100_000


@dataclass(frozen=True)
class Panel:
    """Series by id, in panel order: sorted ids for `data.series: all`, else the order listed."""

    members: dict[str, Series]
    path: Path
    sha256: str
    notices: tuple[str, ...]
    statics: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {static covariate column: its value}

    @property
    def ids(self) -> list[str]:
        return list(self.members)


def load_panel(data: DataConfig, path: Path | None = None, *, show_header: bool = True,
               only: list[str] | None = None) -> Panel:
    """The panel a data config describes (from `path` instead of data.path when given); `only` keeps those ids."""
    if data.layout == "wide":
        table = read_table(path or data.path, wanted=_wide_wanted(data, only), sep=data.sep, show_header=show_header)
        members, statics = _wide_members(table, data, only), {}
    else:
        wanted = [data.date_column, *data.columns, str(data.series_column), *_static_columns(data)]
        table = read_table(path or data.path, wanted=wanted, sep=data.sep, show_header=show_header)
        members, statics = _long_members(table, data, only)
    notices = tuple(notice for member in members.values() for notice in member.notices)
    return Panel(members, table.path, table.sha256, notices, statics)


def _static_columns(data: DataConfig) -> list[str]:
    return [name for name in data.static_covariates if name != "series"]


def _chosen(available: list[str], data: DataConfig, only: list[str] | None, path: Path, what: str) -> list[str]:
    """The ids to read: all (sorted, so a file's row or column order cannot change a run) or the listed ones."""
    listed = list(only) if only is not None else sorted(available) if data.series == "all" else list(data.series or ())
    known = set(available)
    missing = [name for name in listed if name not in known]
    if missing:
        close = difflib.get_close_matches(missing[0], available, n=1)
        hint = f"did you mean {quote(close[0])}? " if close else ""
        shown = ", ".join(clean(name, limit=20) for name in sorted(available)[:20])
        more = ", ..." if len(available) > 20 else ""
        raise DataError(f"{path}: no {what} {quote(missing[0])}; {hint}the file holds {shown}{more}")
    if len(listed) > MAX_SERIES:
        raise DataError(f"{path}: {len(listed):,} series; lstmcast trains on at most {MAX_SERIES:,} at once")
    return listed


def _long_members(table: Table, data: DataConfig,
                  only: list[str] | None) -> tuple[dict[str, Series], dict[str, dict[str, str]]]:
    column = str(data.series_column)
    ids = table.frame[column].str.strip()
    if (ids == "").any():
        raise DataError(f"{table.path}: column {quote(column)}: empty series ids on line(s) "
                        f"{', '.join(map(str, ids.index[ids == ''][:5]))}; fill them in or remove those rows")
    chosen = _chosen(list(pd.unique(ids.to_numpy())), data, only, table.path, f"series with {clean(column)} =")
    groups = table.frame.groupby(ids, sort=False).indices  # one pass over the rows, not one per series
    parsed = _parsed_once(table, data)
    if parsed is None:  # a cell is refused: read series by series, so that the message names the series
        members = {name: series_from_frame(table.frame.iloc[groups[name]], table, date_column=data.date_column,
                                           columns=data.columns, missing=data.missing, decimal=data.decimal,
                                           date_format=data.date_format, name=name)
                   for name in chosen}
    else:
        dates, values, notices = parsed
        members = {name: assemble(values.iloc[groups[name]], dates[groups[name]], table, notices=notices,
                                  date_column=data.date_column, missing=data.missing, name=name)
                   for name in chosen}
    return members, {name: _static_values(table, data, name, groups[name]) for name in chosen}


def _parsed_once(table: Table, data: DataConfig) -> tuple[pd.DatetimeIndex, pd.DataFrame, list[str]] | None:
    """Dates and numbers of the whole file, each distinct date parsed once (what makes a panel of thousands of
    series fast); None where reading series by series says more: a cell is refused (the message then names the
    series), or the dates need a notice (timestamps, daylight saving time), which each series should carry."""
    frame = table.frame
    try:
        dated = parse_date_values(frame[data.date_column], table.path, data.date_column, data.date_format)
        if dated is None or dated[1]:
            return None
        values = pd.DataFrame({column: numeric(frame[column], table.path, column, data.decimal)
                               for column in data.columns}, index=frame.index)
    except DataError:
        return None
    return dated[0], values, []


def _static_values(table: Table, data: DataConfig, name: str, rows: np.ndarray) -> dict[str, str]:
    """A series' value of each static covariate column: one value on every row of the series, or refused."""
    values = {}
    for column in _static_columns(data):
        cells = table.frame[column].iloc[rows].str.strip()
        distinct = list(dict.fromkeys(cells))
        if len(distinct) != 1 or distinct[0] == "":
            lines = [str(table.frame.index[rows[list(cells).index(value)]]) for value in distinct[:2]]
            shown = " and ".join(f"{quote(clean(value, limit=30))} (line {line})" for value, line in
                                 zip(distinct[:2], lines))
            raise DataError(f"{table.path} (series {clean(name)}): column {quote(column)}: a static covariate holds "
                            f"one value for every row of a series, but this one has {shown}; fix the file, or leave "
                            f"{clean(column)} out of data.static_covariates")
        values[column] = distinct[0]
    return values


def _wide_wanted(data: DataConfig, only: list[str] | None) -> list[str] | None:
    if data.series == "all" and only is None:
        return None  # every column
    return [data.date_column, *(only if only is not None else data.series or ())]


def _wide_members(table: Table, data: DataConfig, only: list[str] | None) -> dict[str, Series]:
    """A column per series, named data.target in each; the blank cells before a series' first value and after its
    last are not its rows (it started or ended then); a blank in between is a gap that data.missing handles."""
    if data.date_column not in table.header:
        raise DataError(f"{table.path}: no date column {quote(data.date_column)}; set data.date_column")
    available = [name for name in table.header if name != data.date_column]
    chosen = _chosen(available, data, only, table.path, "column")
    dates, notices = parse_dates(table.frame[data.date_column], table.path, data.date_column, data.date_format)
    order = np.argsort(dates.to_numpy(), kind="stable")
    members = {}
    for name in chosen:  # the one date column is parsed once; each series' numbers alone, named in messages
        cells = table.frame[name].iloc[order]
        filled = np.flatnonzero((cells.str.strip() != "").to_numpy())
        if len(filled) == 0:
            raise DataError(f"{table.path}: column {quote(name)} holds no values; remove it or leave it out of "
                            "data.series")
        rows = order[filled[0] : filled[-1] + 1]
        values = pd.DataFrame({data.target: numeric(table.frame[name].iloc[rows], where(table.path, name),
                                                     data.target, data.decimal)})
        members[name] = assemble(values, dates[rows], table, notices=notices if not members else [],
                                 date_column=data.date_column, missing=data.missing, name=name)
    return members


def panel_dates(members: dict[str, Series], *, skip: int = 0) -> pd.DatetimeIndex:
    """Every date of any member (after each member's first `skip` rows), sorted: the panel's time axis."""
    parts = [series.dates[skip:] for series in members.values()]
    return pd.DatetimeIndex(np.unique(np.concatenate([part.to_numpy() for part in parts])), name="date")
