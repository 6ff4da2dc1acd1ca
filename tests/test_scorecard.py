"""Issue 12: the probabilistic baselines see nothing after their origin and draw what they claim to, and the
probabilistic scorecard ranks an oracle above a misspecified forecaster."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcast.evaluation.probabilistic import crps_samples
from lstmcast.evaluation.scorecard import distribution_scorecard
from lstmcast.forecasting.distributions import bootstrap_random_walk, garch, gaussian_random_walk


def _prices(rows: int = 900, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volatility = np.where(np.arange(rows) < rows // 2, 0.01, 0.03)
    return 100 * np.exp(np.cumsum(volatility * rng.standard_normal(rows)))


@pytest.mark.parametrize("make", [
    lambda h, rows: gaussian_random_walk(h, rows, 3, 200, 1),
    lambda h, rows: bootstrap_random_walk(h, rows, 3, 200, 1),
    lambda h, rows: garch(h, rows, 3, 200, 1, groups=[np.arange(len(rows))]),
])
def test_baselines_see_nothing_after_their_origin(make):
    history, rows = _prices(), np.arange(600, 700)
    changed = history.copy()
    changed[651:] *= np.exp(np.random.default_rng(9).normal(0, 0.2, len(changed) - 651))
    before, after = make(history, rows), make(changed, rows)
    assert before.shape == (100, 3, 200)
    np.testing.assert_allclose(after[:51], before[:51], rtol=1e-12)  # origins up to row 650
    assert not np.allclose(after[51:], before[51:])


def test_gaussian_walk_steps_have_the_trailing_mean_and_standard_deviation():
    history = _prices()
    rows = np.array([300, 800])
    paths = gaussian_random_walk(history, rows, 1, 100_000, 2)
    steps = np.diff(np.log(history))
    for i, row in enumerate(rows):
        moved = np.log(paths[i, 0] / history[row])
        assert moved.std() == pytest.approx(steps[row - 250 : row].std(ddof=1), rel=0.01)
        assert moved.mean() == pytest.approx(steps[row - 250 : row].mean(), abs=4 * moved.std() / 300)


def test_bootstrap_draws_only_the_trailing_steps():
    history = _prices()
    paths = bootstrap_random_walk(history, np.array([500]), 2, 1000, 3)
    first = np.log(paths[0, 0] / history[500])
    known = np.diff(np.log(history))[250:500]
    assert np.isin(np.round(first, 12), np.round(known, 12)).all()


def test_scorecard_prefers_the_oracle():
    rng = np.random.default_rng(4)
    count, horizon = 600, 2
    spread = np.where(np.arange(count) < 300, 1.0, 3.0)[:, None, None]
    actual = (spread[:, :, 0] * rng.standard_normal((count, horizon)))
    oracle = spread * rng.standard_normal((count, horizon, 500))
    fixed = 2.0 * rng.standard_normal((count, horizon, 500))  # right on average, wrong in each regime
    card, pits = distribution_scorecard({"oracle": oracle, "fixed": fixed}, actual, baselines=["fixed"],
                                        levels=[80.0], step=1, seed=0)
    assert card["by_model"]["oracle"]["crps"] == pytest.approx(crps_samples(oracle, actual).mean(axis=0).tolist())
    assert card["by_model"]["oracle"]["crps_overall"] < card["by_model"]["fixed"]["crps_overall"]
    assert card["diebold_mariano"]["oracle vs fixed"]["overall"]["p_value"] < 0.05
    assert min(card["by_model"]["oracle"]["pit_p_value"]) > 1e-3
    assert max(card["by_model"]["fixed"]["pit_p_value"]) < 1e-3
    cover = card["by_model"]["oracle"]["intervals"]["80"]["overall"]["coverage"]
    assert cover == pytest.approx(0.8, abs=0.04)
    assert pits["oracle"].shape == (count, horizon)


def test_garch_paths_on_consecutive_origins_do_not_depend_on_the_memory_bound(monkeypatch):
    """The simulation is cut into spans of rows to bound memory; on consecutive origins the draws come in the same
    order either way, so the paths are identical."""
    import lstmcast.forecasting.distributions as distributions

    history, rows = _prices(), np.arange(600, 700)
    whole = garch(history, rows, 3, 100, 5, groups=[np.arange(len(rows))])
    monkeypatch.setattr(distributions, "SIMULATED_VALUES", 100 * 3 * 10)  # spans of at most 10 rows
    assert len(distributions._spans(rows, 10)) == 10
    np.testing.assert_array_equal(garch(history, rows, 3, 100, 5, groups=[np.arange(len(rows))]), whole)
