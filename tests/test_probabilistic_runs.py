"""Issue 12, probabilistic heads end to end: configs that cannot work are refused by name, distributional conformal
intervals cover where the model's own spread is wrong, and a run with a student_t head trains, predicts reproducible
intervals, dumps its states and keeps the old point runs working."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import lstmcast
from lstmcast.cli import app
from lstmcast.evaluation.conformal import distributional_levels

from conftest import DATA, write_config

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 3}


@pytest.mark.parametrize("model, training, message", [
    ({"head": {"kind": "quantile", "levels": [0.1, 0.5, 1.5]}}, {}, "strictly between 0 and 1"),
    ({"head": {"kind": "quantile", "levels": [0.1, 0.5, 0.5, 0.9]}}, {}, "listed twice"),
    ({"head": {"kind": "quantile", "levels": [0.9, 0.5, 0.1]}}, {}, "increasing order"),
    ({"head": {"kind": "quantile", "levels": [0.1, 0.4, 0.9]}}, {}, "must include 0.5"),
    ({"head": {"kind": "quantile"}}, {}, "needs levels"),
    ({"head": {"kind": "normal", "levels": [0.1, 0.5, 0.9]}}, {}, "belong to a quantile head"),
    ({"head": {"kind": "quantile", "levels": [0.1, 0.5, 0.9]}}, {"loss": "mse"}, "training.loss: mse cannot train"),
    ({"head": "student_t"}, {"loss": "pinball"}, "it trains with nll"),
    ({}, {"loss": "nll"}, "needs a probabilistic head"),
    ({"head": "gamma"}, {}, "model.head.kind"),
])
def test_impossible_heads_are_refused_by_name(tmp_path, model, training, message):
    config = write_config(tmp_path / "c.yaml", model=model, training=training)
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_distributional_conformal_repairs_an_overconfident_model():
    """The model says N(0, 1) but the data are N(0, 2^2): its own 80% interval covers ~48%; recalibrated on held-out
    PIT values, the interval covers 80% on new data (and a calibrated model keeps about its own levels)."""
    rng = np.random.default_rng(0)
    calibration, test = 2 * rng.standard_normal((2000, 2)), 2 * rng.standard_normal((20000, 2))
    scores = np.abs(stats.norm.cdf(calibration) - 0.5)
    for level in (0.8, 0.95):
        low, high = distributional_levels(scores, 1 - level)
        covered = (test >= stats.norm.ppf(low)) & (test <= stats.norm.ppf(high))
        assert covered.mean(axis=0) == pytest.approx([level, level], abs=0.015)
        own = (np.abs(test) <= stats.norm.ppf(0.5 + level / 2)).mean()
        assert own < level - 0.2
    honest = np.abs(stats.norm.cdf(calibration / 2) - 0.5)
    low, high = distributional_levels(honest, 0.2)
    assert low == pytest.approx([0.1, 0.1], abs=0.02) and high == pytest.approx([0.9, 0.9], abs=0.02)


def test_recalibrated_paths_cover_at_every_level():
    """Paths of N(0, 1) for data N(0, 1.5^2): redrawn through the held-out PIT (from paths, as `train` records it),
    their central intervals cover at their nominal level on new data, at any level (what the backtest's 'calibrated'
    row scores)."""
    from lstmcast.evaluation.conformal import path_conformity, recalibrated_paths

    rng = np.random.default_rng(2)
    calibration = 1.5 * rng.standard_normal((4000, 1))
    recorded = path_conformity(rng.standard_normal((4000, 1, 1000)), calibration, seed=0, scale="difference",
                               pairs={})
    paths = rng.standard_normal((3000, 1, 1000))
    redrawn = recalibrated_paths(paths, np.array(recorded["scores"]).T)
    actual = 1.5 * rng.standard_normal((3000, 1))
    for level in (0.5, 0.8, 0.95):
        low, high = np.quantile(redrawn, [(1 - level) / 2, (1 + level) / 2], axis=-1)
        assert ((actual >= low) & (actual <= high)).mean() == pytest.approx(level, abs=0.025)
        raw_low, raw_high = np.quantile(paths, [(1 - level) / 2, (1 + level) / 2], axis=-1)
        assert ((actual >= raw_low) & (actual <= raw_high)).mean() < level - 0.1


@pytest.fixture(scope="module")
def student_t_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("heads")
    config = write_config(base / "t.yaml", data=CPI, model={"kind": "seq2seq", "hidden_size": 6, "head": "student_t"})
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(base / "run")])
    assert result.exit_code == 0, result.output
    return base / "run"


def test_a_student_t_run_records_pit_scores_and_predicts_seeded_intervals(student_t_run):
    meta = json.loads((student_t_run / "meta.json").read_text())
    assert meta["conformal"]["scale"] == "pit" and len(meta["conformal"]["scores"]) == 3
    assert all(0 <= row[0] and row[-1] <= 0.5 and row == sorted(row) for row in meta["conformal"]["scores"])
    model = lstmcast.load(student_t_run)
    first = model.predict(levels=[50, 80, 95], samples=2000, seed=3)
    assert first.equals(model.predict(levels=[50, 80, 95], samples=2000, seed=3))
    assert not first.equals(model.predict(levels=[50, 80, 95], samples=2000, seed=4))
    assert "distributional conformal on 2000 sample paths" in first.attrs["interval_method"]
    for narrow, wide in (("50", "80"), ("80", "95")):
        assert (first[f"lower_{wide}"] <= first[f"lower_{narrow}"]).all()
        assert (first[f"upper_{narrow}"] <= first[f"upper_{wide}"]).all()


def test_sampling_options_need_a_probabilistic_head_and_levels(student_t_run, trained_runs):
    runner = CliRunner()
    point = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--levels", "80", "--samples", "100"])
    assert point.exit_code == 2 and "point head" in point.output
    bare = runner.invoke(app, ["predict", str(student_t_run), "--samples", "100"])
    assert bare.exit_code == 2 and "add --levels" in bare.output
    shown = runner.invoke(app, ["predict", str(student_t_run), "--levels", "80"])
    assert shown.exit_code == 0 and "80% interval" in shown.output and "student_t head" in shown.output
    few = runner.invoke(app, ["predict", str(student_t_run), "--levels", "80", "--samples", "200"])
    assert few.exit_code == 2 and "calibrated on 1000 paths" in few.output


def test_an_overconfident_head_is_named_as_such_not_as_too_few_windows(student_t_run, tmp_path):
    import shutil

    from conftest import edit_meta

    run = tmp_path / "run"
    shutil.copytree(student_t_run, run)
    edit_meta(run, lambda meta: meta["conformal"].update(
        scores=[[0.1] * 50 + [0.5] * 50 for _ in meta["conformal"]["scores"]]))  # half the targets outside all paths
    result = CliRunner().invoke(app, ["predict", str(run), "--levels", "80"])
    assert result.exit_code == 2 and "outside all of the head's sample paths" in result.output, result.output


def test_a_probabilistic_run_dumps_states_of_its_point_forecast(student_t_run):
    model = lstmcast.load(student_t_run)
    dump = model.states()
    assert dump.meta["self_check"]["max_abs_error"] < 1e-5
    forecast = model.predict(as_of=str(dump["origin_date"][-1])[:10])
    assert dump["prediction"][-1] == pytest.approx(forecast["forecast"].to_numpy(), rel=1e-5)


def test_backtest_scores_the_head_against_the_probabilistic_baselines(student_t_run, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["backtest", str(student_t_run), "--origins", "60", "--samples", "300",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Probabilistic scores (300 sample paths" in result.output
    card = json.loads((out / "report.json").read_text())["distribution"]
    assert list(card["by_model"]) == ["run", "run, calibrated", "gaussian_rw", "bootstrap_rw", "garch"]
    assert card["diebold_mariano"]["run vs garch"]["overall"]["n"] == 60
    assert card["diebold_mariano_pinball"]["garch vs gaussian_rw"]["overall"]["n"] == 60
    assert "CRPS" in result.output.split("Diebold-Mariano")[0]  # beside the point scores in the leaderboard
    assert (out / "pit.png").stat().st_size > 10_000
    again = CliRunner().invoke(app, ["backtest", str(student_t_run), "--origins", "60", "--samples", "300",
                                     "--json"])
    assert json.loads(again.stdout)["distribution"] == card  # seeded: the same paths, the same scores


def test_cqr_widens_too_narrow_quantiles_to_nominal():
    """A quantile model whose 10% and 90% quantiles are those of N(0, 1) while the data are N(0, 2^2): CQR on
    held-out scores brings its 80% interval back to 80% coverage on new data."""
    from lstmcast.evaluation.conformal import cqr_interval, head_pairs, path_conformity

    rng = np.random.default_rng(1)
    assert head_pairs([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]) == {"90": (0.05, 0.95), "80": (0.1, 0.9),
                                                                  "50": (0.25, 0.75)}
    assert head_pairs([0.1, 0.5, 0.8]) == {}
    calibration = 2 * rng.standard_normal((3000, 2))
    paths = rng.standard_normal((3000, 2, 400))
    scores = path_conformity(paths, calibration, seed=0, scale="difference", pairs={"80": (0.1, 0.9)})
    assert scores["cqr_scale"] == "difference" and len(scores["cqr"]["80"]) == 2
    test = 2 * rng.standard_normal((20000, 2))
    lower, upper = cqr_interval(np.full(2, stats.norm.ppf(0.1)), np.full(2, stats.norm.ppf(0.9)),
                                np.array(scores["cqr"]["80"]).T, 0.2, "difference")
    covered = ((test >= lower) & (test <= upper)).mean(axis=0)
    assert covered == pytest.approx([0.8, 0.8], abs=0.015)


def test_a_quantile_run_predicts_cqr_intervals_from_its_own_paths(tmp_path):
    """predict's CQR bounds equal a recomputation by hand: the run's paths (same seed), their quantiles at the
    head's levels, widened by the conformal quantile of the recorded scores."""
    from lstmcast.evaluation.conformal import cqr_interval
    from lstmcast.forecasting.sampling import sample_paths
    from lstmcast.runs.load import open_run, run_data

    config = write_config(tmp_path / "q.yaml", data=CPI, model={"hidden_size": 6, "head": {
        "kind": "quantile", "levels": [0.1, 0.25, 0.5, 0.75, 0.9]}})
    assert CliRunner().invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    frame = lstmcast.load(tmp_path / "run").predict(levels=[80], samples=1500, seed=2)
    assert frame.attrs["interval_method"].startswith("CQR at the quantile head's own levels (80%)")
    run = open_run(tmp_path / "run")
    _, prepared = run_data(run)
    x = prepared.tensor()[-prepared.lookback:][None]
    paths = sample_paths(run.model, prepared, x, np.array([len(prepared.dates) - 1]), samples=1500, steps=3,
                         seed=2)[0]
    scores = np.array(run.meta.conformal.cqr["80"]).T
    lower, upper = cqr_interval(np.quantile(paths, 0.1, axis=-1), np.quantile(paths, 0.9, axis=-1), scores, 0.2,
                                run.meta.conformal.cqr_scale)
    np.testing.assert_allclose(frame["lower_80"].astype(float), lower, rtol=1e-12)
    np.testing.assert_allclose(frame["upper_80"].astype(float), upper, rtol=1e-12)
