"""Date cells -> a DatetimeIndex, strictly: one format throughout, local times, no intraday bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.errors import DataError, quote

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", ".", "#n/a", "-", "nat"})
SHOWN = 5  # offending cells listed in a message
# Date formats tried, strictly and one at a time, when the dates are not ISO 8601.
FALLBACK_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y")
OFFSET = r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})$"  # a time of day, then its UTC offset


def lines(index: pd.Index) -> str:
    """CSV line numbers for a message: the first few, then how many more."""
    shown = ", ".join(str(i) for i in index[:SHOWN])
    return shown + (f" and {len(index) - SHOWN} more" if len(index) > SHOWN else "")


def parse_dates(cells: pd.Series, path: Path, column: str, date_format: str | None) -> tuple[pd.DatetimeIndex, list[str]]:
    """Parse a date column (index = CSV line numbers); returns the dates and any notices."""
    text = cells.str.strip()
    blank = text.str.lower().isin(MISSING_TOKENS)
    if blank.any():
        raise DataError(f"{path}: column {quote(column)}: missing dates on line(s) {lines(text.index[blank])}; "
                        "remove those rows")
    notices = []
    stamped = text.str.extract(OFFSET)
    if stamped[1].notna().all() and _daylight_saving(stamped[1]):
        text = stamped[0]  # one zone through daylight saving time (-05:00, then -04:00): local times are the truth
        notices.append(f"{path}: column {quote(column)}: two UTC offsets an hour apart (daylight saving time); read "
                       "the local date and time of each")
    parsed = _parse(text, path, column, date_format)
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_localize(None)
    index, more = _daily(index, text, path, column)
    return index, notices + more


def parse_date_values(cells: pd.Series, path: Path, column: str,
                      date_format: str | None) -> tuple[pd.DatetimeIndex, list[str]] | None:
    """parse_dates over the distinct cells of a long column (a panel's dates repeat once per series): each distinct
    cell parsed once, messages naming the first line that holds it. None when the cells cannot be factorised or are
    not ISO 8601 without a data.date_format (then each series guesses its format alone, as a single series does)."""
    codes, _ = pd.factorize(cells, sort=False)
    if len(codes) == 0 or (codes < 0).any():
        return None
    first = np.unique(codes, return_index=True)[1]  # codes number the cells in order of first appearance
    cells = cells.iloc[first]
    if date_format is None and not _iso(cells):
        return None  # not ISO 8601: a format guessed from every series' dates could misread one series' dates
    distinct, notices = parse_dates(cells, path, column, date_format)
    return pd.DatetimeIndex(distinct[codes]), notices


def _iso(cells: pd.Series) -> bool:
    try:
        return not pd.to_datetime(cells.str.strip(), format="ISO8601", errors="coerce").isna().any()
    except (ValueError, TypeError, OverflowError):  # mixed offsets and the like: let the careful path judge
        return False


def _daylight_saving(offsets: pd.Series) -> bool:
    """Exactly two offsets, one hour apart: one zone's winter and summer time (others are refused by _parse)."""
    distinct = {0 if text == "Z" else (1 if text[0] == "+" else -1) * (int(text[1:3]) * 60 + int(text[-2:]))
                for text in offsets.unique()}
    return len(distinct) == 2 and abs(max(distinct) - min(distinct)) == 60


def _parse(text: pd.Series, path: Path, column: str, date_format: str | None) -> pd.Series:
    formats = [date_format] if date_format else ["ISO8601", *FALLBACK_DATE_FORMATS]
    best: tuple[int, pd.Series] | None = None
    parsed_ok: list[str] = []
    for fmt in formats:
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except (ValueError, OverflowError) as exc:
            if any(word in str(exc).lower() for word in ("offset", "timezone", "tz")):
                raise DataError(
                    f"{path}: column {quote(column)}: dates carry different time-zone offsets; "
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
            f"{path}: column {quote(column)}: dates such as {quote(text.iloc[0])} read both as {parsed_ok[0]} and "
            f"{parsed_ok[1]}; say which with data.date_format (e.g. data.date_format: \"{parsed_ok[0]}\")"
        )
    if best is None:
        raise DataError(f"{path}: column {quote(column)}: the dates cannot be read (e.g. {quote(text.iloc[0])}); "
                        "use ISO 8601 (2017-11-10) or set data.date_format")
    bad_count, parsed = best
    outside = parsed.notna() & ((parsed.dt.year < 1) | (parsed.dt.year > 9999))
    if outside.any():
        where = parsed.index[outside]
        raise DataError(f"{path}: column {quote(column)}: dates outside the years 1 to 9999 on line(s) {lines(where)} "
                        f"(e.g. {quote(text[where[0]])}); fix those cells")
    if bad_count:
        bad_rows = parsed.index[parsed.isna()]
        examples = ", ".join(f"line {i}: {quote(text[i])}" for i in bad_rows[:SHOWN])
        raise DataError(
            f"{path}: column {quote(column)}: {bad_count} date(s) cannot be read or mix formats ({examples}); "
            "use one format throughout (ISO 8601, 2017-11-10, is best) or set data.date_format"
        )
    return parsed


def _daily(index: pd.DatetimeIndex, text: pd.Series, path: Path, column: str) -> tuple[pd.DatetimeIndex, list[str]]:
    """lstmcast models daily or slower data. Timestamps that all share one time of day (a daily close stamped 16:00)
    are daily bars and keep their dates; more than one bar on a day, or times that vary, are intraday: refused."""
    times = index - index.normalize()
    if not times.any():
        return index, []
    days = index.normalize()
    if times.nunique() == 1 and not days.duplicated().any():
        return days, [f"{path}: column {quote(column)}: every timestamp is at {str(times[0])[-8:]}; read as daily "
                      "bars (one per date)"]
    same_day = days.duplicated(keep=False)
    where = text.index[same_day] if same_day.any() else text.index[times != times[0]]
    raise DataError(
        f"{path}: column {quote(column)}: intraday timestamps (e.g. line {where[0]}: {quote(text[where[0]])}); "
        "lstmcast forecasts daily or slower data: aggregate the bars to one row per session first "
        "(e.g. the last bar of each day)"
    )
