"""How a series' dates advance: an exchange's trading sessions (exchange_calendars), or the frequency the data shows.

Used to date forecasts (never on a holiday when a calendar is given), and to refuse data whose spacing does not match
the model's: another frequency, or a gap inside the window the model reads as consecutive steps."""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from lstmcast.errors import ConfigError, DataError

DESCRIPTIONS = {"B": "business days (Mon-Fri)", "D": "calendar days", "MS": "month starts", "ME": "month ends",
                "QS": "quarter starts", "QE": "quarter ends", "YS": "year starts", "YE": "year ends"}


@dataclass(frozen=True)
class Calendar:
    """The data's inferred frequency (a pandas alias, or `months=N`) and, optionally, an exchange's sessions."""

    frequency: str
    exchange: Optional[str] = None

    def following(self, last: pd.Timestamp, steps: int) -> pd.DatetimeIndex:
        """The `steps` dates after `last`."""
        if self.exchange:
            sessions = exchange_sessions(self.exchange, last - pd.Timedelta(days=7),
                                         last + pd.Timedelta(days=7 + 3 * steps))
            after = sessions[sessions > last]
            return pd.DatetimeIndex(after[:steps], name="date")
        offset = to_offset(self.frequency)
        return pd.DatetimeIndex([last + offset * k for k in range(1, steps + 1)], name="date")

    def describe(self) -> str:
        if self.exchange:
            return f"{self.exchange} trading sessions"
        family = DESCRIPTIONS.get(self.frequency) or (
            f"weeks ({self.frequency[2:]})" if self.frequency.startswith("W-") else self.frequency)
        note = "; holidays are not known: set data.calendar (e.g. XNYS) to skip them" if self.frequency == "B" else ""
        return f"{family}, inferred from the data{note}"

    def nominal_days(self) -> float:
        if self.exchange or self.frequency in ("B", "D"):
            return 1.0
        if self.frequency.startswith("W"):
            return 7.0
        return 30.44 * months_in(self.frequency)


def months_in(frequency: str) -> int:
    if frequency.startswith("months="):
        return int(frequency.split("=", 1)[1])
    return {"MS": 1, "ME": 1, "QS": 3, "QE": 3, "YS": 12, "YE": 12}.get(frequency, 1)


def infer_frequency(dates: pd.DatetimeIndex) -> str:
    """The data's calendar: business days for trading data (weekends never appear), month starts for FRED, ...

    Returns a pandas offset alias, or `months=N` for monthly data on a fixed day that is not a month's first or last."""
    if len(dates) < 3:
        return "D"
    recent = dates[-min(len(dates), 500):]
    step = median_step_days(recent)
    if step <= 1.5:
        return "B" if (recent.day_of_week < 5).all() else "D"
    if step <= 8:
        return f"W-{recent[-1].day_name()[:3].upper()}"
    months = 1 if step <= 32 else 3 if step <= 95 else 12
    aligned = months == 1 or _aligned(recent, months)
    if recent.is_month_start.all():
        return {1: "MS", 3: "QS", 12: "YS"}[months] if aligned else f"months={months}"
    if recent.is_month_end.all():
        return {1: "ME", 3: "QE", 12: "YE"}[months] if aligned else f"months={months}"
    return f"months={months}"


def median_step_days(dates: pd.DatetimeIndex) -> float:
    return float(np.median(np.diff(dates.values).astype("timedelta64[s]").astype(np.int64))) / 86_400


def _aligned(dates: pd.DatetimeIndex, months: int) -> bool:
    """Quarterly/yearly aliases anchor on calendar quarters/years; other phases keep a plain month offset."""
    return bool(((dates.month - 1) % months == 0).all()) if months == 3 else bool((dates.month == 1).all())


def to_offset(frequency: str) -> pd.DateOffset:
    if frequency.startswith("months="):
        return pd.DateOffset(months=int(frequency.split("=", 1)[1]))
    return pd.tseries.frequencies.to_offset(frequency)


def exchange_sessions(code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The exchange's trading sessions between two dates (exchange_calendars)."""
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
            calendar = xcals.get_calendar(code, start=start.normalize(), end=end.normalize())
    except (ValueError, xcals.errors.CalendarError) as exc:
        raise DataError(f"data.calendar {code}: cannot cover {start.date()} .. {end.date()} ({exc})") from None
    return pd.DatetimeIndex(calendar.sessions)


def check_frequency(dates: pd.DatetimeIndex, calendar: Calendar, *, what: str) -> None:
    """Refuse data spaced unlike the model's calendar (monthly rows into a daily model, and the like)."""
    if len(dates) < 3:
        return
    nominal, step = calendar.nominal_days(), median_step_days(dates[-500:])
    if not 0.5 <= step / nominal <= 2.0:
        raise DataError(
            f"{what}: its rows are spaced about {step:.1f} days apart, but the model was trained on "
            f"{calendar.describe()} (about {nominal:.1f} days a step); give data of the model's frequency"
        )


def check_gaps(dates: pd.DatetimeIndex, calendar: Calendar, *, steps: int, what: str) -> None:
    """Refuse a gap of more than a few missing steps inside the last `steps` rows, which the model reads as
    consecutive steps (up to 10 days for daily data, 2.5 steps otherwise)."""
    window = dates[-(steps + 1):]
    if len(window) < 2:
        return
    nominal = calendar.nominal_days()
    gaps = np.diff(window.values).astype("timedelta64[s]").astype(np.int64) / 86_400
    limit = 10.0 if nominal <= 1.0 else 2.5 * nominal
    worst = int(np.argmax(gaps))
    if gaps[worst] > limit:
        raise DataError(
            f"{what}: the model reads its last {steps} rows as consecutive steps, but they jump from "
            f"{window[worst].date()} to {window[worst + 1].date()} ({gaps[worst]:.0f} days, for steps of about "
            f"{nominal:.0f}); fill the gap, or give data without it"
        )
