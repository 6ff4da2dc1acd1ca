"""Forecast dates follow the data's calendar (or an exchange's sessions), and data spaced unlike the model's is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from lstmcast.data.calendar import Calendar, check_frequency, check_gaps, infer_frequency
from lstmcast.errors import ConfigError, DataError


@pytest.mark.parametrize("dates, alias, expected", [
    (pd.bdate_range("2017-11-01", "2017-11-10"), "B", ["2017-11-13", "2017-11-14"]),
    (pd.date_range("2018-01-01", periods=12, freq="MS"), "MS", ["2019-01-01", "2019-02-01"]),
    (pd.date_range("2018-01-31", periods=12, freq="ME"), "ME", ["2019-01-31", "2019-02-28"]),
    (pd.date_range("2000-01-01", periods=8, freq="QS"), "QS", ["2002-01-01", "2002-04-01"]),
    (pd.date_range("2018-01-05", periods=10, freq="W-FRI"), "W-FRI", ["2018-03-16", "2018-03-23"]),
    (pd.date_range("2018-01-01", periods=10, freq="D"), "D", ["2018-01-11", "2018-01-12"]),
    (pd.DatetimeIndex(["2020-01-15", "2020-02-15", "2020-03-15", "2020-04-15"]), "months=1",
     ["2020-05-15", "2020-06-15"]),
])
def test_forecast_dates_follow_the_datas_calendar(dates, alias, expected):
    assert infer_frequency(dates) == alias
    assert [str(d.date()) for d in Calendar(alias).following(dates[-1], 2)] == expected


def test_trading_calendar_with_holiday_gaps_is_business_days():
    dates = pd.bdate_range("2001-09-01", "2001-10-01").delete([6, 7, 8, 9])  # closed after 2001-09-10
    assert infer_frequency(dates) == "B"


# The last session before a US market holiday, and the sessions that follow it on XNYS.
BEFORE_HOLIDAYS = [
    ("2016-12-30", ["2017-01-03", "2017-01-04"]),  # New Year's Day observed on Monday
    ("2017-01-13", ["2017-01-17", "2017-01-18"]),  # Martin Luther King Jr. Day
    ("2017-02-17", ["2017-02-21", "2017-02-22"]),  # Presidents' Day
    ("2017-04-13", ["2017-04-17", "2017-04-18"]),  # Good Friday
    ("2017-05-26", ["2017-05-30", "2017-05-31"]),  # Memorial Day
    ("2017-07-03", ["2017-07-05", "2017-07-06"]),  # Independence Day
    ("2017-09-01", ["2017-09-05", "2017-09-06"]),  # Labor Day
    ("2017-11-22", ["2017-11-24", "2017-11-27"]),  # Thanksgiving
    ("2017-12-22", ["2017-12-26", "2017-12-27"]),  # Christmas observed on Monday
    ("2012-10-26", ["2012-10-31", "2012-11-01"]),  # closed two days for Hurricane Sandy
]


@pytest.mark.parametrize("last, expected", BEFORE_HOLIDAYS)
def test_an_exchange_calendar_never_dates_a_forecast_on_a_holiday(last, expected):
    calendar = Calendar("B", "XNYS")
    assert [str(d.date()) for d in calendar.following(pd.Timestamp(last), 2)] == expected
    business_days = Calendar("B").following(pd.Timestamp(last), 2)
    assert [str(d.date()) for d in business_days] != expected  # what Mon-Fri dating gets wrong
    assert "XNYS" in calendar.describe() and "holidays are not known" in Calendar("B").describe()


def test_an_unknown_exchange_is_named_with_the_closest_code():
    with pytest.raises(ConfigError, match="no exchange calendar 'XNYZ'; did you mean .*e.g. XNYS"):
        Calendar("B", "XNYZ").following(pd.Timestamp("2017-11-22"), 2)


def test_data_of_another_frequency_is_refused():
    monthly = pd.date_range("2015-01-01", periods=40, freq="MS")
    with pytest.raises(DataError, match=r"spaced about 3\d\.\d days apart, but the model was trained on business days"):
        check_frequency(monthly, Calendar("B"), what="m.csv")
    check_frequency(pd.bdate_range("2015-01-01", periods=40), Calendar("B", "XNYS"), what="ok.csv")


def test_a_gap_inside_the_window_is_refused_with_its_dates():
    dates = pd.date_range("2010-01-01", periods=30, freq="MS").append(pd.date_range("2014-10-01", periods=12, freq="MS"))
    with pytest.raises(DataError, match="jump from 2012-06-01 to 2014-10-01"):
        check_gaps(dates, Calendar("MS"), steps=24, what="cpi.csv")
    check_gaps(dates, Calendar("MS"), steps=11, what="cpi.csv")  # the gap lies before the window the model reads
    closed = pd.bdate_range("2001-08-01", "2001-10-01").delete([28, 29, 30, 31])  # the week after 2001-09-10
    check_gaps(closed, Calendar("B"), steps=30, what="msft.csv")  # 7 days: a real market closure, accepted
