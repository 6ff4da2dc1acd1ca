"""CSV -> a dated, sorted, numeric frame; every refusal names the file, the column, the lines and the fix."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.data.dates import SHOWN, lines, parse_dates
from lstmcast.data.numbers import numeric
from lstmcast.errors import DataError, clean, quote
from lstmcast.files.reading import MiB, read_regular

MAX_CSV_BYTES = 2048 * MiB


@dataclass(frozen=True)
class Series:
    """One dated numeric series: `values` columns are the target first, then the extra features, in config order."""

    dates: pd.DatetimeIndex
    values: pd.DataFrame
    path: Path
    sha256: str
    notices: tuple[str, ...] = field(default=())

    @property
    def target(self) -> str:
        return str(self.values.columns[0])

    def until(self, last: pd.Timestamp) -> "Series":
        """The rows up to and including `last` (what was known at that date)."""
        keep = self.dates <= last
        return Series(self.dates[keep], self.values[keep].reset_index(drop=True), self.path, self.sha256, self.notices)


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
    raw_bytes, path = _read_source(path)
    text = _decode(raw_bytes, path)
    header = _header(text, path, sep)
    wanted = [date_column, *columns] + ([series_column] if series_column else [])
    _check_columns(header, wanted, path, sep, show_header)
    _check_ragged(text, path, sep, len(header))
    frame = _read_frame(text, path, usecols=wanted, sep=sep)
    frame.index = frame.index + 2  # CSV line numbers: the header is line 1
    if series_column:
        frame = _select_series(frame, path, series_column, series)
    dates, notices = parse_dates(frame[date_column], path, date_column, date_format)
    values = pd.DataFrame({name: numeric(frame[name], path, name, decimal) for name in columns}, index=frame.index)
    values, dates, dropped = _apply_missing(values, dates, path, missing)
    if dropped:
        notices.append(f"{path}: {dropped} row(s) with missing values were handled by missing={missing}")
    order = np.argsort(dates.to_numpy(), kind="stable")
    if not (order == np.arange(len(order))).all():
        notices.append(f"{path}: dates were not in order; sorted them (earliest first)")
        values, dates = values.iloc[order], dates[order]
    _check_duplicates(values, dates, path, date_column, header)
    if values.empty:
        raise DataError(f"{path}: no data rows left after cleaning; check data.missing")
    return Series(
        dates=pd.DatetimeIndex(dates, name="date"),
        values=values.set_axis(pd.RangeIndex(len(values))).astype("float64"),
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        notices=tuple(notices),
    )


def _read_source(path: Path) -> tuple[bytes, Path]:
    """The CSV's bytes, and the name messages give it: `-` is standard input (`--data -`)."""
    if str(path) != "-":
        return read_regular(path, limit=MAX_CSV_BYTES, error=DataError,
                            missing="no such file; check data.path or --data"), path
    raw = sys.stdin.buffer.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise DataError(f"standard input: more than {MAX_CSV_BYTES / MiB:,.0f} MiB; is this the right stream?")
    if not raw:
        raise DataError("standard input: empty; pipe a CSV into `--data -`, e.g. `cat prices.csv | lstmcast predict "
                        "RUN --data -`")
    return raw, Path("<stdin>")


def _decode(raw: bytes, path: Path) -> str:
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is accepted and dropped
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {quote(path.name)} > fixed.csv"
        ) from None
    if "\x00" in text:
        raise DataError(f"{path}: contains NUL bytes, so it is not a text CSV; is this the right file?")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # Windows and classic-Mac line endings alike


def _header(text: str, path: Path, sep: str) -> list[str]:
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise DataError(f"{path}: the file is empty (no header line); expected e.g. Date,Close")
    header = [name.strip() for name in _csv_rows([first], path, sep)[0]]
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"{path}: line 1: column name {quote(name)} appears twice (columns {seen[name]} and {position}); "
                "rename one of them"
            )
        seen[name] = position
    return header


def _csv_rows(text_lines: list[str], path: Path, sep: str) -> list[list[str]]:
    reader = csv.reader(text_lines, delimiter=sep)
    try:
        return list(reader)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {quote(exc, limit=120)}; is this a CSV of prices?") from None


def _check_columns(header: list[str], wanted: list[str], path: Path, sep: str, show_header: bool) -> None:
    for name in wanted:
        if name in header:
            continue
        if not show_header:
            raise DataError(f"{path}: no column {quote(name)} in its first line (not shown: this path came from the "
                            "run's meta.json, not from you); pass --data with the CSV to read")
        if len(header) == 1 and ";" in header[0] and sep == ",":
            raise DataError(
                f"{path}: line 1 has one column {quote(header[0])}: the file looks semicolon-separated; "
                'set data.sep: ";" (and data.decimal: "," if numbers use decimal commas)'
            )
        close = difflib.get_close_matches(name, header, n=1, cutoff=0.5)
        if not close:
            close = [h for h in header if h.lower() == name.lower()]
        hint = f"did you mean {quote(close[0])}? " if close else ""
        names = ", ".join(map(quote, header[:30])) + (f" and {len(header) - 30} more" if len(header) > 30 else "")
        raise DataError(f"{path}: no column {quote(name)}; {hint}the columns are: {names}")


def _check_ragged(text: str, path: Path, sep: str, fields: int) -> None:
    """Every row must have as many fields as the header (pandas would pad short rows with NaN silently)."""
    text_lines = text.split("\n")
    if '"' in text:  # a quoted cell may hold the separator, or span lines
        starts, counts, blank = _quoted_rows(text_lines, path, sep)
    else:
        starts = np.arange(1, len(text_lines) + 1)
        counts = np.fromiter((line.count(sep) + 1 for line in text_lines), dtype=np.int64, count=len(text_lines))
        blank = np.fromiter((not line.strip() for line in text_lines), dtype=bool, count=len(text_lines))
    bad = np.flatnonzero((counts != fields) & ~blank)
    if len(bad):
        shown = ", ".join(f"line {starts[i]} has {counts[i]}" for i in bad[:SHOWN])
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise DataError(
            f"{path}: ragged rows: the header has {fields} fields but {shown}{more}; "
            "every row must have as many fields as the header (a stray separator or a missing cell?)"
        )


def _quoted_rows(text_lines: list[str], path: Path, sep: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each CSV row's first line, field count and blankness, reading quoted cells as the csv module does."""
    reader = csv.reader(text_lines, delimiter=sep)
    starts, counts, blank = [], [], []
    first = 1
    try:
        for row in reader:
            starts.append(first)
            counts.append(len(row))
            blank.append(not any(cell.strip() for cell in row))
            first = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {quote(exc, limit=120)}; is this a CSV of prices?") from None
    return np.array(starts), np.array(counts, dtype=np.int64), np.array(blank, dtype=bool)


def _read_frame(text: str, path: Path, *, usecols: list[str], sep: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, usecols=lambda name: name.strip() in usecols, dtype=str,
            keep_default_na=False, skipinitialspace=True, engine="c",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: ragged rows: {quote(exc, limit=200)}; every row must have as many fields as the "
                        "header") from None
    frame.columns = [name.strip() for name in frame.columns]
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return frame


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
        where = values.index[holes[column]]
        raise DataError(
            f"{path}: column {quote(column)}: missing values on line(s) {lines(where)} ({int(holes[column].sum())} in "
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
