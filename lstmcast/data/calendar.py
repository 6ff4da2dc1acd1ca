"""How a series' dates advance: an exchange's trading sessions (exchange_calendars), or the frequency the data shows.

Used to date forecasts (never on a holiday when a calendar is given), and to refuse data whose spacing does not match
the model's: another frequency, or a gap inside the window the model reads as consecutive steps."""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from lstmcast.errors import ConfigError, DataError

DESCRIPTIONS = {"B": "business days (Mon-Fri)", "D": "calendar days", "MS": "month starts", "ME": "month ends",
                "QS": "quarter starts", "QE": "quarter ends", "YS": "year starts", "YE": "year ends"}
FREQUENCY = re.compile(r"B|D|W-(MON|TUE|WED|THU|FRI|SAT|SUN)|B?(MS|ME)"
                       r"|B?(QS|QE|YS|YE)(-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?"
                       r"|months=([1-9]|[1-9][0-9])")


@dataclass(frozen=True)
class Calendar:
    """The data's inferred frequency (a pandas alias, or `months=N`) and, optionally, an exchange's sessions."""

    frequency: str
    exchange: Optional[str] = None

    def following(self, last: pd.Timestamp, steps: int) -> pd.DatetimeIndex:
        """The `steps` dates after `last` (refused past the year 9999, which dates cannot be written beyond)."""
        try:
            if self.exchange:
                sessions = exchange_sessions(self.exchange, last - pd.Timedelta(days=7),
                                             last + pd.Timedelta(days=7 + 3 * steps))
                dates = sessions[sessions > last][:steps]
            else:
                offset = to_offset(self.frequency)
                dates = pd.DatetimeIndex([last + offset * k for k in range(1, steps + 1)])
        except (NotImplementedError, OverflowError, pd.errors.OutOfBoundsDatetime):
            raise DataError(f"cannot date {steps} steps ({self.describe()}) after {last.date()}: beyond the dates "
                            "pandas can hold") from None
        if len(dates) and dates[-1].year > 9999:
            raise DataError(f"{steps} steps after {last.date()} would pass the year 9999; forecast fewer steps")
        return pd.DatetimeIndex(dates, name="date")

    def describe(self) -> str:
        if self.exchange:
            return f"{self.exchange} trading sessions"
        note = "; holidays are not known: set data.calendar (e.g. XNYS) to skip them" if self.frequency == "B" else ""
        return f"{describe_frequency(self.frequency)}, inferred from the data{note}"

    def nominal_days(self) -> float:
        if self.exchange or self.frequency in ("B", "D"):
            return 1.0
        if self.frequency.startswith("W"):
            return 7.0
        return 30.44 * months_in(self.frequency)


def describe_frequency(frequency: str) -> str:
    """In words: "business quarter ends (year ending Nov)", "weeks (FRI)", ..."""
    if frequency in DESCRIPTIONS:
        return DESCRIPTIONS[frequency]
    if frequency.startswith("W-"):
        return f"weeks ({frequency[2:]})"
    business = frequency[:2] in ("BM", "BQ", "BY")
    base, _, anchor = frequency.removeprefix("B" if business else "").partition("-")
    if base not in DESCRIPTIONS:
        return frequency
    where = "" if not anchor else f" ({'from' if base.endswith('S') else 'year ending'} {anchor.title()})"
    return ("business " if business else "") + DESCRIPTIONS[base] + where


def months_in(frequency: str) -> int:
    if frequency.startswith("months="):
        return int(frequency.split("=", 1)[1])
    return {"M": 1, "Q": 3, "Y": 12}.get(frequency.removeprefix("B")[:1], 1)


def infer_frequency(dates: pd.DatetimeIndex) -> str:
    """The data's calendar: business days for trading data (weekends never appear), month starts for FRED, ...

    Returns a pandas offset alias (monthly, quarterly and yearly ones anchored where the data is: quarter ends in
    Jan/Apr/Jul/Oct are QE-OCT, fiscal years ending in June YE-JUN, last business days BME), or `months=N` for
    monthly data on a fixed day that is not a month's first or last."""
    if len(dates) < 3:
        return "D"
    recent = pd.DatetimeIndex(dates[-min(len(dates), 500):].to_numpy())  # no freq: is_month_end would follow it
    step = median_step_days(recent)
    if step <= 1.5:
        return "B" if (recent.day_of_week < 5).all() else "D"
    if step <= 8:  # the usual weekday: a holiday week's Thursday row does not move every forecast to Thursdays
        return f"W-{pd.Series(recent.day_name()).mode().iloc[0][:3].upper()}"
    index = recent.year.to_numpy() * 12 + recent.month.to_numpy() - 1
    months = max(1, int(np.median(np.diff(index))))
    if months > 12 or not spaced_like(step, 30.44 * months):
        raise DataError(f"the rows are about {step:.0f} days apart, which lstmcast cannot date: it forecasts daily, "
                        "weekly, monthly, quarterly or yearly data (or every N months up to a year); resample the "
                        "series to one of those")
    phases = set(index % months) if months in (3, 12) else {0}
    for family, on_anchor in _ANCHORS:
        if len(phases) == 1 and on_anchor(recent).all():
            return _alias(family, months, phases.pop()) if months in (1, 3, 12) else f"months={months}"
    return f"months={months}"


_ANCHORS = (  # (family, which dates sit on it): calendar first, so 31 March on a Friday stays a month end
    ("S", lambda d: d.is_month_start),
    ("E", lambda d: d.is_month_end),
    ("BS", lambda d: (d - pd.offsets.BMonthBegin(0)) == d),
    ("BE", lambda d: (d + pd.offsets.BMonthEnd(0)) == d),
)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _alias(family: str, months: int, phase: int) -> str:
    """A pandas alias: MS, BQE-NOV, YS-JUL, ... (QS, QE, YS and YE alone for calendar quarters and years)."""
    business, kind = ("B", family[1]) if family.startswith("B") else ("", family)
    unit = {1: "M", 3: "Q", 12: "Y"}[months]
    if months == 1:
        return f"{business}M{kind}"
    # starts anchor on the first month of the cycle (QS-FEB: Feb, May, ...), ends on the year's last (QE-NOV: ..., Nov)
    anchor = phase if kind == "S" else (phase + 9 if months == 3 else phase)
    plain = (kind == "S" and anchor == 0) or (kind == "E" and anchor == 11)
    return f"{business}{unit}{kind}" + ("" if plain else f"-{MONTHS[anchor]}")


def spaced_like(step: float, nominal: float) -> bool:
    """Rows `step` days apart can be read as steps of `nominal` days (within a factor of two): the one rule both for
    inferring a frequency at train and for checking data against it later, so they never disagree."""
    return 0.5 <= step / nominal <= 2.0


def median_step_days(dates: pd.DatetimeIndex) -> float:
    return float(np.median(np.diff(dates.values).astype("timedelta64[s]").astype(np.int64))) / 86_400


def to_offset(frequency: str) -> pd.DateOffset:
    if frequency.startswith("months="):
        return pd.DateOffset(months=int(frequency.split("=", 1)[1]))
    return pd.tseries.frequencies.to_offset(frequency)


_SESSIONS: dict[str, tuple[pd.Timestamp, pd.Timestamp, pd.DatetimeIndex]] = {}  # code -> the widest range built


def exchange_sessions(code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The exchange's trading sessions between two dates (exchange_calendars). Building a calendar takes a few
    hundred milliseconds, and a panel asks for each series' range and the days after it: the sessions of the widest
    range asked for so far are kept per exchange and sliced."""
    start, end = start.normalize(), end.normalize()
    known = _SESSIONS.get(code)
    if known is None or start < known[0] or end > known[1]:
        wide = (start, end) if known is None else (min(start, known[0]), max(end, known[1]))
        try:
            known = (*wide, _build_sessions(code, *wide))
        except DataError:  # beyond what the exchange's calendar covers: say so of the range asked for
            return _build_sessions(code, start, end)
        _SESSIONS[code] = known
    sessions = known[2]
    return sessions[(sessions >= start) & (sessions <= end)]


def _build_sessions(code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    import exchange_calendars as xcals  # 0.5 s to import: only where a calendar is used

    names = xcals.get_calendar_names(include_aliases=True)
    if code not in names:
        close = difflib.get_close_matches(code.upper(), names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"data.calendar: no exchange calendar {code!r}; {hint}e.g. XNYS (New York), XNAS (Nasdaq), "
                          "XLON (London), XTKS (Tokyo)")
    try:
        with warnings.catch_warnings():  # exchange_calendars trips a pandas 3.1 deprecation; not ours to act on
            warnings.simplefilter("ignore", DeprecationWarning)
            calendar = xcals.get_calendar(code, start=start, end=end)
    except (ValueError, NotImplementedError, xcals.errors.CalendarError) as exc:
        raise DataError(f"data.calendar {code}: cannot cover {start.date()} .. {end.date()} ({exc})") from None
    return pd.DatetimeIndex(calendar.sessions)


def check_frequency(dates: pd.DatetimeIndex, calendar: Calendar, *, what: str) -> None:
    """Refuse data spaced unlike the model's calendar (monthly rows into a daily model, and the like)."""
    if len(dates) < 3:
        return
    nominal, step = calendar.nominal_days(), median_step_days(dates[-500:])
    if not spaced_like(step, nominal):
        raise DataError(
            f"{what}: its rows are spaced about {step:.1f} days apart, but the model was trained on "
            f"{calendar.describe()} (about {nominal:.1f} days a step); give data of the model's frequency"
        )


def gaps(dates: pd.DatetimeIndex, calendar: Calendar) -> list[tuple[pd.Timestamp, pd.Timestamp, float]]:
    """(from, to, days) of every jump between consecutive rows longer than a few missing steps (more than 10 days
    for daily data, 2.5 steps otherwise), which a model reads as one step."""
    if len(dates) < 2:
        return []
    nominal = calendar.nominal_days()
    days = np.diff(dates.values).astype("timedelta64[s]").astype(np.int64) / 86_400
    limit = 10.0 if nominal <= 1.0 else 2.5 * nominal
    return [(dates[i], dates[i + 1], float(days[i])) for i in np.flatnonzero(days > limit)]


def check_gaps(dates: pd.DatetimeIndex, calendar: Calendar, *, steps: int, what: str) -> None:
    """Refuse a gap inside the last `steps` rows, which the model reads as consecutive steps."""
    found = gaps(dates[-(steps + 1):], calendar)
    if found:
        start, end, days = max(found, key=lambda gap: gap[2])
        raise DataError(
            f"{what}: the model reads its last {steps} rows as consecutive steps, but they jump from "
            f"{start.date()} to {end.date()} ({days:.0f} days, for steps of about "
            f"{calendar.nominal_days():.0f}); fill the gap, or give data without it"
        )


def gap_notice(dates: pd.DatetimeIndex, calendar: Calendar, *, what: str) -> list[str]:
    """For commands that record many windows (a gap is the model's reading there, not a reason to refuse them
    all): a notice naming the gaps that the windows read as one step."""
    found = gaps(dates, calendar)
    if not found:
        return []
    listed = ", ".join(f"{start.date()} -> {end.date()} ({days:.0f} days)" for start, end, days in found[:5])
    return [f"{what}: {len(found)} gap(s) in the rows read ({listed}{', ...' if len(found) > 5 else ''}); the "
            "windows that span one read it as a single step (predict refuses to forecast from such a window)"]
