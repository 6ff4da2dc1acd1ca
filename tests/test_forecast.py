from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmcast.forecast import drift, forecast_dates, infer_frequency, metrics, naive_scale, random_walk


def test_baselines_by_hand():
    history = np.array([10.0, 11.0, 13.0, 12.0, 16.0])
    origins = np.array([2, 4])
    np.testing.assert_array_equal(random_walk(history, origins, 2), [[13, 13], [16, 16]])
    # drift: last value + k * (last - first) / (t - 0)
    np.testing.assert_allclose(drift(history, origins, 2), [[14.5, 16.0], [17.5, 19.0]])


def test_metrics_by_hand():
    actual = np.array([[11.0, 9.0], [20.0, np.nan]])
    forecast = np.array([[12.0, 12.0], [19.0, 25.0]])
    anchor = np.array([10.0, 21.0])
    result = metrics(actual, forecast, anchor, scale=2.0)
    errors = np.array([1.0, 3.0, -1.0])
    assert result["mae"] == pytest.approx(np.abs(errors).mean())
    assert result["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert result["mape"] == pytest.approx(np.mean([1 / 11, 3 / 9, 1 / 20]) * 100)
    assert result["mase"] == pytest.approx(np.abs(errors).mean() / 2.0)
    # moves from the anchor: actual up, down, down; forecast up, up, down -> 2 of 3 right
    assert result["directional_accuracy"] == pytest.approx(200 / 3)
    assert naive_scale(np.array([1.0, 3.0, 2.0])) == 1.5


def test_random_walk_has_no_direction():
    actual, anchor = np.array([[11.0]]), np.array([10.0])
    assert metrics(actual, np.array([[10.0]]), anchor, scale=1.0)["directional_accuracy"] is None


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
    assert [str(d.date()) for d in forecast_dates(dates, 2)] == expected


def test_trading_calendar_with_holiday_gaps_is_business_days():
    dates = pd.bdate_range("2001-09-01", "2001-10-01").delete([6, 7, 8, 9])  # closed after 2001-09-10
    assert infer_frequency(dates) == "B"
