"""A CSV's bytes -> a checked table of text cells: size, encoding, header, ragged rows; every refusal names the file,
the line and the fix. Series are taken from the table by `reading`."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.data.dates import SHOWN
from lstmcast.errors import DataError, quote
from lstmcast.files.reading import MiB, read_regular

MAX_CSV_BYTES = 2048 * MiB


@dataclass(frozen=True)
class Table:
    """A CSV's cells as text, with CSV line numbers as the index, before any series is taken from it."""

    frame: pd.DataFrame
    header: list[str]
    path: Path
    sha256: str


def read_table(path: Path, *, wanted: list[str] | None, sep: str, show_header: bool = True) -> Table:
    """The file's `wanted` columns (all of them for None), checked for encoding, header and ragged rows."""
    raw_bytes, path = _read_source(path)
    text = _decode(raw_bytes, path)
    header = _header(text, path, sep)
    _check_columns(header, wanted or [], path, sep, show_header)
    _check_ragged(text, path, sep, len(header))
    frame = _read_frame(text, path, usecols=wanted or header, sep=sep)
    frame.index = frame.index + 2  # CSV line numbers: the header is line 1
    return Table(frame, header, path, hashlib.sha256(raw_bytes).hexdigest())


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


def _ascii_rows(text: str, sep: str, fields: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line numbers and field counts of every line at once, on the bytes (millions of rows per second); whether a
    line is blank is looked at only where the count is off."""
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    lines_at = np.searchsorted(newlines, np.flatnonzero(raw == ord(sep)))  # each separator's line
    counts = np.bincount(lines_at, minlength=len(newlines) + 1) + 1
    bounds = np.concatenate([[-1], newlines, [len(raw)]])
    blank = np.zeros(len(counts), dtype=bool)
    for line in np.flatnonzero(counts != fields):
        blank[line] = not text[bounds[line] + 1 : bounds[line + 1]].strip()
    return np.arange(1, len(counts) + 1), counts, blank


def _check_ragged(text: str, path: Path, sep: str, fields: int) -> None:
    """Every row must have as many fields as the header (pandas would pad short rows with NaN silently)."""
    if '"' not in text and text.isascii() and sep.isascii():
        starts, counts, blank = _ascii_rows(text, sep, fields)
    elif '"' in text:  # a quoted cell may hold the separator, or span lines
        starts, counts, blank = _quoted_rows(text.split("\n"), path, sep)
    else:
        text_lines = text.split("\n")
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
