"""Issue 12, first step: the scores of probabilistic forecasts and conformal intervals, each against an independent
computation (closed forms, numerical integration, brute force, hand values)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from lstmcast.evaluation.probabilistic import (
    coverage, crps_gaussian, crps_quantiles, crps_samples, pinball, pit_from_samples, pit_uniformity, winkler,
)
from lstmcast.evaluation.adaptive import adaptive_conformal
from lstmcast.evaluation.conformal import split_conformal


@pytest.mark.parametrize("mean, std, y", [(0.0, 1.0, 0.3), (2.0, 0.5, -1.0), (-3.0, 4.0, 10.0)])
def test_gaussian_crps_equals_the_integral_of_its_definition(mean, std, y):
    """CRPS(F, y) = integral of (F(x) - 1{x >= y})^2 dx, integrated numerically."""
    below, _ = integrate.quad(lambda x: stats.norm.cdf(x, mean, std) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda x: (1 - stats.norm.cdf(x, mean, std)) ** 2, y, np.inf)
    assert crps_gaussian(np.array(mean), np.array(std), np.array(y)) == pytest.approx(below + above, rel=1e-7)


def test_sample_crps_equals_the_brute_force_formula_and_tends_to_the_closed_form():
    rng = np.random.default_rng(0)
    samples, y = rng.normal(size=(3, 40)), rng.normal(size=3)
    brute = [np.abs(s - t).mean() - np.abs(s[:, None] - s[None, :]).mean() / 2 for s, t in zip(samples, y)]
    np.testing.assert_allclose(crps_samples(samples, y), brute, rtol=1e-12)
    many = rng.normal(1.0, 2.0, size=200_000)
    assert crps_samples(many, np.array(0.5)) == pytest.approx(crps_gaussian(1.0, 2.0, 0.5), rel=1e-2)


def test_pinball_and_quantile_crps():
    levels = np.array([0.1, 0.5, 0.9])
    # y = 3, quantiles 1, 2, 4: 0.1 * 2 = 0.2; 0.5 * 1 = 0.5; (0.9 - 1) * (3 - 4) = 0.1
    np.testing.assert_allclose(pinball(levels, np.array([1.0, 2.0, 4.0]), np.array(3.0)), [0.2, 0.5, 0.1])
    fine = np.linspace(0.005, 0.995, 199)
    quantiles = stats.norm.ppf(fine, 0.0, 1.0)
    assert crps_quantiles(fine, quantiles, np.array(0.7)) == pytest.approx(crps_gaussian(0.0, 1.0, 0.7), rel=2e-2)


def test_interval_scores_by_hand():
    lower, upper, y = np.array([0.0, 0.0, 0.0]), np.array([2.0, 2.0, 2.0]), np.array([1.0, -1.0, 5.0])
    np.testing.assert_array_equal(coverage(lower, upper, y), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(winkler(lower, upper, y, alpha=0.2), [2.0, 2.0 + 10 * 1.0, 2.0 + 10 * 3.0])


def test_pit_is_uniform_when_calibrated_and_not_when_too_narrow():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    calibrated = pit_from_samples(rng.normal(size=(2000, 500)), y, rng)
    narrow = pit_from_samples(0.5 * rng.normal(size=(2000, 500)), y, rng)
    assert pit_uniformity(calibrated)["p_value"] > 0.01
    assert pit_uniformity(narrow)["p_value"] < 1e-6


def test_split_conformal_takes_the_finite_sample_rank():
    residuals = np.arange(1.0, 20.0)[:, None]  # |r| = 1..19, N = 19: rank ceil(20 * 0.9) = 18
    assert split_conformal(residuals, 0.1)[0] == 18.0
    assert np.isinf(split_conformal(residuals[:5], 0.05)[0])  # too few for 95%


@pytest.mark.parametrize("method, gamma", [("aci", 0.01), ("tracking", 0.2)])
def test_adaptive_intervals_follow_a_variance_jump_where_split_conformal_does_not(method, gamma):
    rng = np.random.default_rng(2)
    actual = np.concatenate([rng.normal(0, 1, 1500), rng.normal(0, 3, 1500)])[:, None]
    forecast = np.zeros_like(actual)
    calibration = rng.normal(0, 1, (300, 1))
    rows = np.arange(len(actual))
    lower, upper = adaptive_conformal(forecast, actual, rows, alpha=0.1, method=method, gamma=gamma,
                                      calibration=calibration)
    after = slice(2000, None)  # once the intervals have had time to react
    adaptive = coverage(lower, upper, actual)[after].mean()
    half = split_conformal(calibration, 0.1)
    split = coverage(-half, half, actual)[after].mean()
    assert abs(adaptive - 0.9) < 0.03 and split < 0.5, (adaptive, split)
    assert np.isfinite(upper).all()
    assert np.median((upper - lower)[after]) > 2.5 * np.median((upper - lower)[500:1500])  # about 3x wider


def test_quantile_tracking_keeps_its_long_run_miss_rate_bound():
    """Quantile tracking of the log score misses at a rate within (B + gamma) / (gamma T) of alpha over T one-step
    updates, B the range of the log scores, whatever the sequence: here heavy tails and volatility regimes."""
    rng = np.random.default_rng(7)
    spread = np.repeat(rng.choice([0.2, 1.0, 5.0], 20), 100)
    actual = (spread * rng.standard_t(3, 2000))[:, None]
    forecast, rows, gamma, alpha = np.zeros_like(actual), np.arange(2000), 0.2, 0.1
    lower, upper = adaptive_conformal(forecast, actual, rows, alpha=alpha, gamma=gamma, calibration=actual[:50] * 0)
    missed = 1 - coverage(lower, upper, actual)[1:].mean()  # the first origin has no realised error yet
    logs = np.log(np.abs(actual[:, 0]))
    bound = (logs.max() - logs.min() + gamma) / (gamma * (len(actual) - 1))
    assert abs(missed - alpha) <= bound, (missed, bound)
    assert abs(missed - alpha) < 0.02


def test_quantile_tracking_starts_from_the_scores_and_restarts_after_exact_forecasts():
    """No seed: unbounded until enough errors are realised for the level (4 at 80%: ceil((n + 1) 0.8) <= n), then
    their conformal quantile; exact forecasts give width zero, which grows again (never stuck) once errors return."""
    actual = np.concatenate([np.zeros(20), np.ones(20)])[:, None]
    lower, upper = adaptive_conformal(np.zeros_like(actual), actual, np.arange(40), alpha=0.2)
    width = (upper - lower)[:, 0]
    assert np.isinf(width[:4]).all() and np.isfinite(width[4:]).all()
    assert width[19] == 0 and width[39] > 0
@pytest.mark.parametrize("method", ["aci", "tracking"])
def test_adaptive_intervals_use_only_errors_realised_by_each_origin(method):
    """A 3-step target is known 3 rows after its origin: changing it changes no interval before then."""
    rng = np.random.default_rng(3)
    actual, forecast, calibration = rng.normal(size=(60, 3)), np.zeros((60, 3)), rng.normal(size=(20, 3))
    rows = np.arange(60)
    _, base = adaptive_conformal(forecast, actual, rows, alpha=0.2, method=method, gamma=0.05,
                                 calibration=calibration)
    changed = actual.copy()
    changed[40, 2] = 100.0  # origin 40's 3-step target, realised at row 43
    _, moved = adaptive_conformal(forecast, changed, rows, alpha=0.2, method=method, gamma=0.05,
                                 calibration=calibration)
    np.testing.assert_array_equal(moved[:43], base[:43])
    assert (moved[43:, 2] != base[43:, 2]).any()


def test_the_interval_scorecard_covers_nominal_on_a_random_walk_and_names_its_scale():
    from lstmcast.evaluation.intervals import interval_scorecard
    from lstmcast.evaluation.metrics import actuals

    rng = np.random.default_rng(4)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    rows = np.arange(1000, 2990)
    actual = actuals(prices, rows, 3)
    forecasts = {"random_walk": np.repeat(prices[rows][:, None], 3, axis=1), "bad": np.full((len(rows), 3), np.nan)}
    card = interval_scorecard(forecasts, actual, rows, prices, levels=[80.0, 95.0])
    assert card["method"] == "tracking" and card["gamma"] == 0.2
    assert card["scale"] == "log_ratio" and list(card["by_model"]) == ["random_walk"]  # no interval without forecasts
    for level, nominal in (("80", 0.80), ("95", 0.95)):
        scores = card["by_model"]["random_walk"][level]
        assert all(abs(c - nominal) < 0.03 for c in scores["coverage"]), scores["coverage"]
        assert scores["unbounded"] == 0 and all(w > 0 for w in scores["width"])
        assert scores["winkler"][0] >= scores["width"][0]


def test_backtest_scores_intervals_for_every_forecaster(runner, trained_runs):
    import json

    from lstmcast.cli import app

    run = trained_runs["seq2seq"]
    result = runner.invoke(app, ["backtest", str(run), "--origins", "30", "--levels", "80,95", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)["intervals"]
    assert card["method"] == "tracking" and card["levels"] == ["80", "95"]
    assert "seq2seq" in card["by_model"] and "random_walk" in card["by_model"]
    table = runner.invoke(app, ["backtest", str(run), "--origins", "30", "--levels", "90", "--adaptive", "aci"])
    assert table.exit_code == 0 and "Prediction intervals" in table.output and "90%" in table.output
    assert "ACI, gamma 0.005" in " ".join(table.output.split())
    assert runner.invoke(app, ["backtest", str(run), "--levels", "120"]).exit_code == 2


def test_aci_seeds_each_forecaster_with_its_own_errors_before_the_first_origin():
    """A forecaster ten times better than the random walk starts with intervals of its own size, not the walk's;
    one without prior forecasts falls back to the walk's errors."""
    from lstmcast.evaluation.intervals import interval_scorecard, prior_origins
    from lstmcast.evaluation.metrics import actuals

    rng = np.random.default_rng(5)
    steps = rng.normal(0, 0.01, 1200)
    prices = 100 * np.exp(np.cumsum(steps))
    rows, horizon = np.arange(1000, 1100), 2
    prior = prior_origins(int(rows[0]), horizon, earliest=0)
    assert prior[-1] + horizon == rows[0] and len(prior) == 60  # every prior target known at the first origin

    def oracle(at):  # knows the next steps up to a tenth of their size
        return np.stack([prices[at + k] * np.exp(0.1 * rng.normal(0, 0.01, len(at))) for k in (1, 2)], axis=1)

    forecasts = {"oracle": oracle(rows), "unseeded": oracle(rows)}
    card = interval_scorecard(forecasts, actuals(prices, rows, horizon), rows, prices, levels=[80.0], method="aci",
                              gamma=0.005,
                         prior=(prior, {"oracle": oracle(prior)}))
    own, walk = card["by_model"]["oracle"], card["by_model"]["unseeded"]
    assert own["seed"] == "own" and walk["seed"] == "random walk"
    assert own["80"]["width"][0] < 0.3 * walk["80"]["width"][0]
    assert abs(own["80"]["coverage"][0] - 0.8) < 0.1


def test_a_shorter_aci_window_forgets_an_old_regime_sooner():
    """After volatility falls, intervals read from the latest 60 errors narrow sooner than from the latest 250."""
    from lstmcast.evaluation.intervals import interval_scorecard
    from lstmcast.evaluation.metrics import actuals

    rng = np.random.default_rng(6)
    spread = np.where(np.arange(1400) < 900, 0.03, 0.005)
    prices = 100 * np.exp(np.cumsum(spread * rng.standard_normal(1400)))
    rows = np.arange(900, 1390)
    actual = actuals(prices, rows, 1)
    forecast = {"random_walk": prices[rows][:, None]}
    wide = interval_scorecard(forecast, actual, rows, prices, levels=[80.0], method="aci", gamma=0.005)
    short = interval_scorecard(forecast, actual, rows, prices, levels=[80.0], method="aci", gamma=0.005,
                               window=60)
    assert wide["window"] == 250 and short["window"] == 60
    assert short["by_model"]["random_walk"]["80"]["width"][0] < 0.9 * wide["by_model"]["random_walk"]["80"]["width"][0]
