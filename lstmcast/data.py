"""CSV -> a dated, sorted, numeric frame; every refusal names the file, the column, the lines and the fix."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.errors import DataError

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", ".", "#n/a", "-", "nat"})
INFINITE_TOKENS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
SHOWN = 5  # offending cells listed in a message
# Date formats tried, strictly and one at a time, when the dates are not ISO 8601.
FALLBACK_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y")


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
) -> Series:
    """Read `columns` (target first) from a CSV, select one series of a long file, parse dates, sort, check."""
    raw_bytes = _read_bytes(path)
    text = _decode(raw_bytes, path)
    header = _header(text, path, sep)
    wanted = [date_column, *columns] + ([series_column] if series_column else [])
    _check_columns(header, wanted, path, sep, decimal)
    _check_ragged(text, path, sep, len(header))
    frame = _read_frame(text, path, usecols=wanted, sep=sep)
    frame.index = frame.index + 2  # CSV line numbers: the header is line 1
    notices: list[str] = []
    if series_column:
        frame = _select_series(frame, path, series_column, series)
    dates = _parse_dates(frame[date_column], path, date_column, date_format)
    values = pd.DataFrame({name: _numeric(frame[name], path, name, decimal) for name in columns}, index=frame.index)
    values, dates, dropped = _apply_missing(values, dates, path, missing)
    if dropped:
        notices.append(f"{path}: {dropped} row(s) with missing values were handled by missing={missing}")
    order = np.argsort(dates.to_numpy(), kind="stable")
    if not (order == np.arange(len(order))).all():
        notices.append(f"{path}: dates were not in order; sorted them (earliest first)")
        values, dates = values.iloc[order], dates[order]
    _check_duplicates(values, dates, path, date_column)
    if values.empty:
        raise DataError(f"{path}: no data rows left after cleaning; check data.missing")
    return Series(
        dates=pd.DatetimeIndex(dates, name="date"),
        values=values.set_axis(pd.RangeIndex(len(values))).astype("float64"),
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        notices=tuple(notices),
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check data.path or --data") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is accepted and dropped
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name} > fixed.csv"
        ) from None


def _header(text: str, path: Path, sep: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise DataError(f"{path}: the file is empty (no header line); expected e.g. Date,Close")
    header = next(csv.reader([first], delimiter=sep))
    header = [name.strip() for name in header]
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"{path}: line 1: column name {name!r} appears twice (columns {seen[name]} and {position}); "
                "rename one of them"
            )
        seen[name] = position
    return header


def _check_columns(header: list[str], wanted: list[str], path: Path, sep: str, decimal: str) -> None:
    for name in wanted:
        if name in header:
            continue
        if len(header) == 1 and ";" in header[0] and sep == ",":
            raise DataError(
                f"{path}: line 1 has one column {header[0]!r}: the file looks semicolon-separated; "
                'set data.sep: ";" (and data.decimal: "," if numbers use decimal commas)'
            )
        close = difflib.get_close_matches(name, header, n=1, cutoff=0.5)
        if not close:
            close = [h for h in header if h.lower() == name.lower()]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(f"{path}: no column {name!r}; {hint}the columns are: {', '.join(map(repr, header))}")


def _check_ragged(text: str, path: Path, sep: str, fields: int) -> None:
    """Every row must have as many fields as the header (pandas would pad short rows with NaN silently)."""
    lines = text.splitlines()
    if '"' in text:
        counts = np.array([len(row) for row in csv.reader(lines, delimiter=sep)])
    else:
        counts = np.fromiter((line.count(sep) + 1 for line in lines), dtype=np.int64, count=len(lines))
    blank = np.fromiter((not line.strip() for line in lines), dtype=bool, count=len(lines))
    bad = np.flatnonzero((counts != fields) & ~blank)
    if len(bad):
        shown = ", ".join(f"line {i + 1} has {counts[i]}" for i in bad[:SHOWN])
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise DataError(
            f"{path}: ragged rows: the header has {fields} fields but {shown}{more}; "
            "every row must have as many fields as the header (a stray separator or a missing cell?)"
        )


def _read_frame(text: str, path: Path, *, usecols: list[str], sep: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            usecols=lambda name: name.strip() in usecols,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: ragged rows: {exc}; every row must have as many fields as the header") from None
    frame.columns = [name.strip() for name in frame.columns]
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return frame


def _select_series(frame: pd.DataFrame, path: Path, column: str, series: str | None) -> pd.DataFrame:
    ids = frame[column].str.strip()
    available = list(dict.fromkeys(ids))
    if series is None:
        if len(available) == 1:
            return frame
        raise DataError(
            f"{path}: column {column!r} holds {len(available)} series ({', '.join(available[:10])}"
            f"{', ...' if len(available) > 10 else ''}); choose one with data.series (e.g. --set data.series={available[0]})"
        )
    selected = frame[ids == series]
    if selected.empty:
        close = difflib.get_close_matches(series, available, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(f"{path}: no rows with {column} = {series!r}; {hint}the file holds {', '.join(available[:20])}")
    return selected


def _lines(index: pd.Index) -> str:
    shown = ", ".join(str(i) for i in index[:SHOWN])
    return shown + (f" and {len(index) - SHOWN} more" if len(index) > SHOWN else "")


def _parse_dates(cells: pd.Series, path: Path, column: str, date_format: str | None) -> pd.DatetimeIndex:
    text = cells.str.strip()
    blank = text.str.lower().isin(MISSING_TOKENS)
    if blank.any():
        raise DataError(f"{path}: column {column!r}: missing dates on line(s) {_lines(text.index[blank])}; remove those rows")
    formats = [date_format] if date_format else ["ISO8601", *FALLBACK_DATE_FORMATS]
    best: tuple[int, pd.Series] | None = None
    parsed_ok: list[str] = []
    for fmt in formats:
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError as exc:
            if "offset" in str(exc).lower() or "timezone" in str(exc).lower() or "tz" in str(exc).lower():
                raise DataError(
                    f"{path}: column {column!r}: dates carry different time-zone offsets; "
                    "convert them to one zone (or drop the offsets) before training"
                ) from None
            continue
        bad = int(parsed.isna().sum())
        if bad == 0:
            parsed_ok.append(fmt)
            if len(parsed_ok) == 1:
                best = (0, parsed)
            if fmt == "ISO8601":
                break
        elif best is None or bad < best[0]:
            best = (bad, parsed)
    if len(parsed_ok) > 1 and not date_format:
        raise DataError(
            f"{path}: column {column!r}: dates such as {text.iloc[0]!r} read both as {parsed_ok[0]} and {parsed_ok[1]}; "
            f"say which with data.date_format (e.g. data.date_format: \"{parsed_ok[0]}\")"
        )
    assert best is not None
    bad_count, parsed = best
    if bad_count:
        bad_rows = parsed.index[parsed.isna()]
        examples = ", ".join(f"line {i}: {text[i]!r}" for i in bad_rows[:SHOWN])
        raise DataError(
            f"{path}: column {column!r}: {bad_count} date(s) cannot be read or mix formats ({examples}); "
            "use one format throughout (ISO 8601, 2017-11-10, is best) or set data.date_format"
        )
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_localize(None)
    return index


def _numeric(cells: pd.Series, path: Path, column: str, decimal: str) -> pd.Series:
    text = cells.str.strip()
    if decimal != ".":
        text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
    lowered = text.str.lower()
    infinite = lowered.isin(INFINITE_TOKENS)
    if infinite.any():
        raise DataError(
            f"{path}: column {column!r}: infinite values on line(s) {_lines(text.index[infinite])}; "
            "replace them with real numbers or remove the rows"
        )
    missing = lowered.isin(MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        examples = ", ".join(f"line {i}: {text[i]!r}" for i in text.index[bad][:SHOWN])
        more = f" and {int(bad.sum()) - SHOWN} more" if bad.sum() > SHOWN else ""
        hint = " (decimal commas? set data.decimal and data.sep)" if text[bad].str.contains(",").any() else ""
        raise DataError(f"{path}: column {column!r}: not a number ({examples}{more}){hint}; fix or remove those cells")
    if np.isinf(numbers.to_numpy(dtype="float64")).any():
        lines = text.index[np.isinf(numbers.to_numpy(dtype="float64"))]
        raise DataError(f"{path}: column {column!r}: values overflow to infinity on line(s) {_lines(lines)}")
    return numbers.astype("float64")


def _apply_missing(
    values: pd.DataFrame, dates: pd.DatetimeIndex, path: Path, policy: str
) -> tuple[pd.DataFrame, pd.DatetimeIndex, int]:
    holes = values.isna()
    if not holes.to_numpy().any():
        return values, dates, 0
    if policy == "error":
        column = str(holes.any().idxmax())
        lines = values.index[holes[column]]
        raise DataError(
            f"{path}: column {column!r}: missing values on line(s) {_lines(lines)} ({int(holes[column].sum())} in all); "
            "fix the file, or set data.missing: ffill (carry the last value forward) or drop (remove those rows)"
        )
    rows = int(holes.any(axis=1).sum())
    if policy == "drop":
        keep = ~holes.any(axis=1).to_numpy()
        return values[keep], dates[keep], rows
    order = np.argsort(dates.to_numpy(), kind="stable")  # forward-fill in time order, never from the future
    filled = values.iloc[order].ffill().iloc[np.argsort(order, kind="stable")]
    leading = filled.isna().any(axis=1).to_numpy()
    return filled[~leading], dates[~leading], rows


def _check_duplicates(values: pd.DataFrame, dates: pd.DatetimeIndex, path: Path, column: str) -> None:
    duplicated = dates.duplicated(keep=False)
    if not duplicated.any():
        return
    lines = values.index[duplicated]
    group = pd.Series(values.index[duplicated], index=dates[duplicated])
    conflicting = values[duplicated].groupby(dates[duplicated]).nunique().max(axis=1).gt(1)
    kind = "with different values" if conflicting.any() else "(identical rows)"
    first = group.index[0]
    raise DataError(
        f"{path}: column {column!r}: duplicate dates {kind}, e.g. {first.date()} on lines "
        f"{', '.join(str(i) for i in group[first])}; all duplicated lines: {_lines(lines)}; keep one row per date"
    )
