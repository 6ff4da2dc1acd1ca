"""Future-known covariates: calendar features of every row's date and of the `horizon` dates after it, known at the
origin because they come from the calendar, never from the data. Row r of the result carries the features of its own
date and of its next horizon dates (the targets' dates, or the calendar's dates past the data's end), so a window
ending at r brings the decoder the features of each date it forecasts, and no windowing code needs to know."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.data.calendar import Calendar, exchange_sessions, infer_frequency


def lead_columns(data: DataConfig) -> list[str]:
    """Names of the columns `with_leads` appends: each feature at the row's date (t) and at t+1 .. t+horizon."""
    per_date = data.known_columns
    return [f"{name}@t" for name in per_date] + [f"{name}@t+{k}" for k in range(1, data.horizon + 1)
                                                 for name in per_date]


def with_leads(dates: pd.DatetimeIndex, names: Sequence[str], calendar: Calendar, horizon: int) -> np.ndarray:
    """[M, K (horizon + 1)] float32: row r holds the features of dates[r], then of each of the next horizon dates
    (the data's own next dates where it has them, the calendar's after its last row)."""
    extended = dates.append(calendar.following(dates[-1], horizon)) if horizon else dates
    values = calendar_features(extended, names, calendar.exchange)
    rows = len(dates)
    return np.concatenate([values[k : k + rows] for k in range(horizon + 1)], axis=1).astype(np.float32)


def calendar_features(dates: pd.DatetimeIndex, names: Sequence[str], exchange: str | None) -> np.ndarray:
    """[N, K] the features of each date, in the order of DataConfig.known_columns: day_of_week and month as a point
    on a circle (sin, cos), days_to_month_end as one number, holiday as two flags."""
    parts = []
    for name in names:
        if name == "day_of_week":
            parts += _circle(dates.day_of_week.to_numpy(), 7)
        elif name == "month":
            parts += _circle(dates.month.to_numpy() - 1, 12)
        elif name == "days_to_month_end":
            parts.append(_days_to_month_end(dates, exchange))
        else:
            parts += _holiday_flags(dates, str(exchange))
    return np.column_stack(parts).astype(np.float64)


def _circle(position: np.ndarray, period: int) -> list[np.ndarray]:
    angle = 2 * np.pi * position / period
    return [np.sin(angle), np.cos(angle)]


def _days_to_month_end(dates: pd.DatetimeIndex, exchange: str | None) -> np.ndarray:
    """Trading sessions left in the month after this date (with an exchange calendar), else calendar days, / 31."""
    if exchange is None:
        return (dates.days_in_month - dates.day).to_numpy() / 31.0
    sessions = _sessions(dates, exchange)
    month_end = (dates + pd.offsets.MonthEnd(0)).normalize()
    after = np.searchsorted(sessions.to_numpy(), dates.normalize().to_numpy(), side="right")
    through = np.searchsorted(sessions.to_numpy(), month_end.to_numpy(), side="right")
    return (through - after) / 31.0


def _holiday_flags(dates: pd.DatetimeIndex, exchange: str) -> list[np.ndarray]:
    """1 where a weekday between the previous session and this date (after) or between this date and the next
    session (before) is not a session: the market was, or will be, closed for a holiday."""
    sessions = _sessions(dates, exchange).to_numpy()
    day = dates.normalize().to_numpy()
    position = np.searchsorted(sessions, day, side="left")
    previous = sessions[np.clip(position - 1, 0, len(sessions) - 1)]
    following = sessions[np.clip(np.searchsorted(sessions, day, side="right"), 0, len(sessions) - 1)]
    after = np.busday_count(previous.astype("datetime64[D]") + 1, day.astype("datetime64[D]")) > 0
    before = np.busday_count(day.astype("datetime64[D]") + 1, following.astype("datetime64[D]")) > 0
    return [after.astype(np.float64), before.astype(np.float64)]


def _sessions(dates: pd.DatetimeIndex, exchange: str) -> pd.DatetimeIndex:
    """The exchange's sessions from a few weeks before the first date to a few weeks after the month of the last."""
    return exchange_sessions(exchange, dates.min() - pd.Timedelta(days=21), dates.max() + pd.Timedelta(days=45))


def covariate_columns(dates: pd.DatetimeIndex, data: DataConfig, calendar: Calendar | None,
                      codes: Sequence[int]) -> tuple[np.ndarray | None, list[str]]:
    """The columns a prepared series carries after its values: the calendar leads (when data.future_covariates),
    then each static covariate's integer code, constant down the rows; and their names."""
    parts, names = [], []
    if data.future_covariates:
        calendar = calendar or Calendar(infer_frequency(dates), data.calendar)
        parts.append(with_leads(dates, data.future_covariates, calendar, data.horizon))
        names += lead_columns(data)
    if codes:
        parts.append(np.tile(np.asarray(codes, dtype=np.float32), (len(dates), 1)))
        names += list(data.static_covariates)
    return (np.concatenate(parts, axis=1) if parts else None), names
