"""Metrics, baselines and the Diebold-Mariano test against hand computations and independent libraries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lstmcast.evaluation.metrics import always_up, compare, naive_scales, point_metrics
from lstmcast.evaluation.significance import diebold_mariano, long_run_variance
from lstmcast.forecasting.baselines import drift, historical_mean, random_walk, seasonal_naive


def test_baselines_by_hand():
    history = np.array([10.0, 11.0, 13.0, 12.0, 16.0])
    origins = np.array([2, 4])
    np.testing.assert_array_equal(random_walk(history, origins, 2), [[13, 13], [16, 16]])
    np.testing.assert_allclose(drift(history, origins, 2), [[14.5, 16.0], [17.5, 19.0]])  # + k (last - first) / t
    np.testing.assert_allclose(historical_mean(history, origins, 1), [[34 / 3], [62 / 5]])
    np.testing.assert_array_equal(seasonal_naive(history, np.array([3]), 3, 2), [[13, 12, 13]])


def test_metrics_by_hand():
    actual = np.array([[11.0, 9.0], [20.0, np.nan]])
    forecast = np.array([[12.0, 12.0], [19.0, 25.0]])
    anchor = np.array([10.0, 21.0])
    result = point_metrics(actual, forecast, anchor, scales=np.array([2.0, 4.0]))
    errors = np.array([1.0, 3.0, -1.0])
    assert result["mae"] == pytest.approx(np.abs(errors).mean())
    assert result["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert result["mape"] == pytest.approx(np.mean([1 / 11, 3 / 9, 1 / 20]) * 100)
    # MASE: step 1 has errors 1 and 1 (MAE 1, scale 2), step 2 has error 3 (MAE 3, scale 4)
    assert result["mase"] == pytest.approx((1 / 2 + 3 / 4) / 2)
    # moves from the anchor: actual up, down, down; forecast up, up, down -> 2 of 3 right
    assert result["directional_accuracy"] == pytest.approx(200 / 3)


def test_naive_scales_are_the_k_step_naive_errors():
    history = np.array([1.0, 3.0, 2.0, 6.0])
    np.testing.assert_allclose(naive_scales(history, 3), [(2 + 1 + 4) / 3, (1 + 3) / 2, 5.0])
    assert np.isnan(naive_scales(history, 4)[3])


def test_the_random_walk_has_no_direction_and_always_up_is_the_trivial_baseline():
    actual, anchor = np.array([[11.0], [9.0], [12.0], [10.0]]), np.array([10.0, 10.0, 10.0, 10.0])
    assert point_metrics(actual, np.tile(anchor[:, None], 1), anchor, scales=np.ones(1))["directional_accuracy"] is None
    assert always_up(actual, anchor) == pytest.approx(200 / 3)  # 2 ups of 3 moves (one flat)


def test_relative_errors_and_skill_against_the_random_walk():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    table = compare({"random_walk": actual + 1.0, "model": actual + 0.5}, actual, np.zeros(2), scales=np.ones(2))
    assert table["model"]["rel_mae"] == pytest.approx(0.5) and table["model"]["rel_rmse"] == pytest.approx(0.5)
    assert table["model"]["skill"] == pytest.approx(0.5) and table["random_walk"]["skill"] == 0.0


def test_diebold_mariano_with_the_hln_correction_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200) ** 2, rng.normal(0, 1.3, 200) ** 2
    d = a - b
    n = len(d)
    dm = d.mean() / np.sqrt(d.var() / n) * np.sqrt((n + 1 - 2 + 0) / n)  # lag 0: plain variance (ddof 0)
    result = diebold_mariano(a, b, lags=0)
    assert result["statistic"] == pytest.approx(dm)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(dm), n - 1))
    assert result["statistic"] < 0 and result["p_value"] < 0.05  # a really has the smaller loss


@pytest.mark.parametrize("lags", [1, 2, 3, 4])
def test_long_run_variance_equals_statsmodels_hac_with_the_uniform_kernel(lags):
    from statsmodels.stats.sandwich_covariance import S_hac_simple, weights_uniform

    rng = np.random.default_rng(lags)
    d = np.convolve(rng.normal(size=400), np.ones(lags + 1), mode="valid")  # an MA(lags) series, like h-step losses
    theirs = float(S_hac_simple(d - d.mean(), nlags=lags, weights_func=weights_uniform)[0, 0]) / len(d)  # sums
    assert long_run_variance(d, lags) == pytest.approx(theirs, rel=1e-12)
    n, h = len(d), lags + 1
    expected = d.mean() / np.sqrt(theirs / n) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    assert diebold_mariano(d, np.zeros(n), lags=lags)["statistic"] == pytest.approx(expected, rel=1e-12)


def test_a_non_positive_long_run_variance_is_not_computable_rather_than_replaced():
    d = np.tile([1.0, -1.0], 50) + 0.01  # strongly negative autocorrelation at odd lags
    assert long_run_variance(d, 1) < 0
    result = diebold_mariano(d, np.zeros(len(d)), lags=1)
    assert result["p_value"] is None and "not computable" in result["note"]
    same = diebold_mariano(d, d, lags=2)
    assert same["statistic"] is None and "identical losses" in same["note"]
