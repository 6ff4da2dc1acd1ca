"""Issue 12, a first working step: split-conformal prediction intervals from the evaluated model's validation
residuals, through predict (table, JSON, CSV) and the Python API."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

import lstmcast
from lstmcast.cli import app

from conftest import edit_meta


def predict_json(runner, *args: str) -> dict:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_train_records_the_validation_residuals_per_step(trained_runs):
    meta = json.loads((trained_runs["many_to_one"] / "meta.json").read_text())
    conformal = meta["conformal"]
    assert conformal["scale"] == "log_ratio"  # CPI through log returns: errors as ratios
    assert len(conformal["scores"]) == meta["horizon"]
    assert all(len(row) == meta["windows"]["validation"] and row == sorted(row) for row in conformal["scores"])


def test_interval_bounds_are_the_finite_sample_quantile_of_those_residuals(runner, trained_runs):
    run = trained_runs["seq2seq"]
    meta = json.loads((run / "meta.json").read_text())
    forecast = predict_json(runner, str(run), "--levels", "80,95")
    for step, row in enumerate(forecast["forecast"]):
        scores = meta["conformal"]["scores"][step]
        for level in ("80", "95"):
            rank = math.ceil((len(scores) + 1) * int(level) / 100)
            half = scores[rank - 1]  # by hand
            bounds = row["intervals"][level]
            assert bounds["lower"] == pytest.approx(row["value"] * math.exp(-half), rel=1e-12)
            assert bounds["upper"] == pytest.approx(row["value"] * math.exp(half), rel=1e-12)
        assert row["intervals"]["95"]["lower"] <= row["intervals"]["80"]["lower"] < row["value"]


def test_intervals_in_the_csv_the_table_and_the_api(runner, trained_runs, tmp_path):
    run = trained_runs["many_to_one"]
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["predict", str(run), "--levels", "90", "--out", str(out)])
    assert result.exit_code == 0 and "90% interval" in result.output, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["step", "date", "CPILFESL", "lower_90", "upper_90"]
    again = runner.invoke(app, ["predict", str(run), "--levels", "90", "--out", str(out), "--force"])
    assert again.exit_code == 0, again.output  # recognised as lstmcast's own forecast
    api = lstmcast.load(run).predict(levels=[90])
    np.testing.assert_allclose(api["lower_90"].astype(float), frame["lower_90"], rtol=0, atol=0)


def test_steps_past_the_trained_horizon_have_no_interval(runner, trained_runs):
    run = trained_runs["seq2seq"]
    forecast = predict_json(runner, str(run), "--levels", "80", "--horizon", "6")
    assert [row["intervals"]["80"]["lower"] is None for row in forecast["forecast"]] == [False] * 4 + [True] * 2


@pytest.mark.parametrize("levels", ["0,80", "100", "80,80", "high"])
def test_bad_levels_are_refused(runner, trained_runs, levels):
    result = runner.invoke(app, ["predict", str(trained_runs["seq2seq"]), "--levels", levels])
    assert result.exit_code == 2 and "--levels" in result.output


def test_a_run_without_residuals_says_so(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["seq2seq"], run)
    edit_meta(run, lambda meta: meta.pop("conformal"))
    result = runner.invoke(app, ["predict", str(run), "--levels", "80"])
    assert result.exit_code == 2 and "records no validation residuals" in result.output
    assert runner.invoke(app, ["predict", str(run)]).exit_code == 0


def test_split_conformal_intervals_cover_about_their_level_on_the_test_split(trained_runs):
    """The held-out test windows, which neither the fit nor the residuals saw: coverage near nominal."""
    from lstmcast.data.transforms import rows_consumed
    from lstmcast.evaluation.metrics import actuals
    from lstmcast.evaluation.conformal import interval, split_conformal
    from lstmcast.forecasting.predict import predict_scaled, to_user_units
    from lstmcast.runs.load import open_run, run_data

    run = open_run(trained_runs["seq2seq"])
    series, prepared = run_data(run)
    origins = prepared.origins("test")
    forecast = to_user_units(prepared, predict_scaled(run.model, prepared.windows(origins)[0]), origins)
    actual = actuals(series.values.iloc[:, 0].to_numpy(), origins + rows_consumed(run.config.data), prepared.horizon)
    half = split_conformal(np.array(run.meta.conformal.scores).T, 0.2)
    lower, upper = interval(forecast, half, run.meta.conformal.scale)
    covered = ((actual >= lower) & (actual <= upper)).mean()
    assert 0.6 <= covered <= 1.0, covered  # 100 test windows of a 1-epoch model: a loose, honest bound


def test_the_forecast_plot_shades_one_band_per_level_widest_palest(tmp_path):
    from matplotlib.collections import PolyCollection

    from lstmcast.outputs.plots import forecast_with_history

    dates = pd.bdate_range("2024-01-01", periods=80)
    figure = forecast_with_history(
        tmp_path / "f.png", history_dates=dates[:75], history=np.linspace(10, 12, 75), forecast_dates=dates[75:],
        forecast=np.full(5, 12.0), target="Close", title="t",
        intervals={"80": ([11.0] * 5, [13.0] * 5), "95": ([10.0] * 4 + [None], [14.0] * 4 + [None])})
    bands = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2 and bands[0].get_alpha() < bands[1].get_alpha()  # 95% drawn first, paler
    low, high = bands[0].get_paths()[0].vertices[:, 1].min(), bands[0].get_paths()[0].vertices[:, 1].max()
    assert (low, high) == (10.0, 14.0)
