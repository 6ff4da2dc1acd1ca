"""Walk-forward backtests: scored honestly, baselines right, and blind to the future."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lstmcast.cli import app
from lstmcast.evaluation.significance import diebold_mariano

from conftest import DATA, write_config

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 4}


def run_backtest(runner, *args):
    result = runner.invoke(app, ["backtest", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_report_metrics_recompute_from_forecasts_csv(runner, trained_runs, tmp_path):
    report_dir = tmp_path / "report"
    result = runner.invoke(app, ["backtest", str(trained_runs["many_to_one"]), str(trained_runs["seq2seq"]),
                                 "--out", str(report_dir)])
    assert result.exit_code == 0, result.output
    assert "Walk-forward leaderboard" in result.output
    assert sorted(p.name for p in report_dir.iterdir() if not p.name.startswith(".")) == [
        "error_by_step.png", "forecasts.csv", "forecasts.png", "metrics.csv", "report.json"]
    frame = pd.read_csv(report_dir / "forecasts.csv")
    report = json.loads((report_dir / "report.json").read_text())
    assert len(frame) == report["origins"] * 4
    for name in ("many_to_one", "seq2seq", "random_walk", "drift", "seasonal_naive", "historical_mean", "ets"):
        error = frame[name] - frame["actual"]
        assert report["overall"][name]["mae"] == pytest.approx(error.abs().mean(), rel=1e-9)
        assert report["overall"][name]["rmse"] == pytest.approx(np.sqrt((error**2).mean()), rel=1e-9)
        step2 = frame[frame.step == 2]
        assert report["by_step"][name][1]["mae"] == pytest.approx((step2[name] - step2["actual"]).abs().mean(),
                                                                  rel=1e-9)
        assert report["overall"][name]["skill"] == pytest.approx(
            1 - report["overall"][name]["rmse"] / report["overall"]["random_walk"]["rmse"])
    metrics = pd.read_csv(report_dir / "metrics.csv")
    assert set(metrics.columns) >= {"model", "step", "mae", "rmse", "mape", "smape", "mase", "directional_accuracy",
                                    "skill"}


def test_baselines_by_hand_on_a_few_origins(runner, trained_runs, tmp_path):
    runner.invoke(app, ["backtest", str(trained_runs["many_to_one"]), "--origins", "20", "--step", "3",
                        "--season", "12", "--out", str(tmp_path / "r")])
    frame = pd.read_csv(tmp_path / "r" / "forecasts.csv")
    cpi = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    values = cpi["CPILFESL"].to_numpy()
    index = {d: i for i, d in enumerate(cpi["observation_date"])}
    origins = frame["origin"].unique()
    assert len(origins) == 20 and index[origins[-1]] == len(values) - 1 - 4  # the last origin with a full horizon
    assert index[origins[1]] - index[origins[0]] == 3
    for origin in origins[[0, 7, 19]]:
        t = index[origin]
        rows = frame[frame.origin == origin].sort_values("step")
        np.testing.assert_allclose(rows["random_walk"], values[t])
        np.testing.assert_allclose(rows["drift"], values[t] + np.arange(1, 5) * (values[t] - values[0]) / t)
        np.testing.assert_allclose(rows["seasonal_naive"], values[t + np.arange(1, 5) - 12])
        np.testing.assert_allclose(rows["historical_mean"], values[: t + 1].mean())
        np.testing.assert_allclose(rows["actual"], values[t + 1 : t + 5])
        assert list(rows["date"]) == list(cpi["observation_date"][t + 1 : t + 5])


def perturbed(tmp_path, after: str):
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    later = frame["observation_date"] > after
    frame.loc[later, "CPILFESL"] *= np.linspace(1.5, 0.7, later.sum())
    path = tmp_path / "perturbed.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("refit", ["never", "every"])
def test_nothing_after_an_origin_changes_its_forecast(runner, trained_runs, tmp_path, refit):
    if refit == "never":
        source = trained_runs["seq2seq"]
    else:
        source = write_config(tmp_path / "c.yaml", data=CPI, model={"kind": "seq2seq", "hidden_size": 4},
                              training={"epochs": 1, "threads": 1})
    args = [source, "--from", "2016-01-01", "--refit", refit]
    original = pd.read_csv(_report(runner, tmp_path / "a", *args))
    changed = pd.read_csv(_report(runner, tmp_path / "b", *args, "--data", perturbed(tmp_path, "2016-06-01")))
    model = source.stem if refit == "every" else source.name
    early = original.origin <= "2016-06-01"
    assert early.sum() > 0 and (~early).sum() > 0
    for name in (model, "drift", "historical_mean", "ets"):
        np.testing.assert_array_equal(original[early][name].to_numpy(), changed[early][name].to_numpy())  # bitwise
        assert not np.allclose(original[~early][name], changed[~early][name]), name


def _report(runner, out, *args):
    result = runner.invoke(app, ["backtest", *map(str, args), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "forecasts.csv"


def test_a_model_does_not_beat_a_synthetic_random_walk(runner, tmp_path):
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2000-01-03", periods=2500)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    path = tmp_path / "rw.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": prices}).to_csv(path, index=False)
    config = write_config(tmp_path / "c.yaml", data={"path": str(path), "lookback": 20, "horizon": 1},
                          model={"hidden_size": 16, "num_layers": 1}, training={"epochs": 5, "threads": 1})
    runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    report = run_backtest(runner, tmp_path / "run")
    skill = report["overall"]["run"]["skill"]
    assert abs(skill) < 0.02, skill  # an apparent edge on a random walk would mean leakage
    assert report["diebold_mariano"]["run vs random_walk"]["overall"]["p_value"] > 0.01


def test_diebold_mariano_with_the_hln_correction_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200) ** 2, rng.normal(0, 1.3, 200) ** 2
    d = a - b
    n = len(d)
    dm = d.mean() / np.sqrt(d.var() / n)  # lag 0: plain variance (ddof 0)
    dm *= np.sqrt((n + 1 - 2 + 0) / n)
    from scipy import stats

    result = diebold_mariano(a, b, lags=0)
    assert result["statistic"] == pytest.approx(dm)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(dm), n - 1))
    assert result["statistic"] < 0 and result["p_value"] < 0.05  # a really has the smaller loss
    assert diebold_mariano(a, a, lags=2)["statistic"] is None


def test_bad_arguments_are_named(runner, trained_runs, tmp_path):
    result = runner.invoke(app, ["backtest", str(trained_runs["seq2seq"]), "--refit", "sometimes"])
    assert result.exit_code == 2 and "Invalid value for '--refit'" in result.output
    result = runner.invoke(app, ["backtest", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "neither a run directory nor a .yaml config" in result.output
    result = runner.invoke(app, ["backtest", str(trained_runs["seq2seq"]), "--from", "2030-01-01"])
    assert result.exit_code == 3 and "no origin leaves room" in result.output


def test_ets_forecasts_equal_statsmodels_own_forecast_from_each_origin():
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from lstmcast.forecasting.baselines import ets

    values = pd.read_csv(DATA / "us_core_cpi_monthly.csv")["CPILFESL"].to_numpy()
    origins = np.array([600, 650, 700])
    ours = ets(values, origins, 3, fit_until=600)
    options = {"error": "add", "trend": "add", "damped_trend": True}
    params = ETSModel(np.log(values[:601]), **options).fit(disp=False).params
    for row, t in enumerate(origins):
        theirs = ETSModel(np.log(values[: t + 1]), **options).smooth(params).forecast(3)
        np.testing.assert_allclose(ours[row], np.exp(theirs), rtol=1e-10)


def test_a_backtest_forecast_equals_predict_on_the_data_cut_at_its_origin(runner, trained_runs, tmp_path):
    cpi = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    for kind, run in trained_runs.items():
        report = run_backtest(runner, run, "--origins", "30", "--step", "7", "--out", tmp_path / kind)
        frame = pd.read_csv(tmp_path / kind / "forecasts.csv")
        for origin in frame["origin"].unique()[[0, 2, -1]]:
            cpi[cpi.observation_date <= origin].to_csv(tmp_path / "cut.csv", index=False)
            result = runner.invoke(app, ["predict", str(run), "--data", str(tmp_path / "cut.csv"), "--json"])
            predicted = [row["value"] for row in json.loads(result.stdout)["forecast"]]
            # one window in predict, a batch of them in backtest: equal up to the rounding of batched products
            np.testing.assert_allclose(frame[frame.origin == origin].sort_values("step")[kind], predicted, rtol=1e-9)
        assert report["origins"] == 30


def test_refit_every_k_origins_trains_once_per_group_with_the_configs_own_split(runner, tmp_path, monkeypatch):
    import lstmcast.scoring.walkforward as workflow

    seen = []
    real_fit = workflow.fit

    def spy(config, prepared, **kwargs):
        seen.append((prepared.dates[-1], prepared.train_end, len(prepared.dates)))
        return real_fit(config, prepared, **kwargs)

    monkeypatch.setattr(workflow, "fit", spy)
    config = write_config(tmp_path / "c.yaml", data={**CPI, "split": {"validation": 0.3, "test": 0.1}},
                          model={"hidden_size": 3, "num_layers": 1}, training={"epochs": 1, "threads": 1})
    report = run_backtest(runner, config, "--origins", "10", "--refit", "4")
    assert report["refit"] == 4 and len(seen) == 3  # origins 1-4, 5-8, 9-10
    origins = pd.to_datetime([report["first_origin"]])
    assert seen[0][0] == origins[0]  # the first refit sees history up to its first origin, no further
    for _, train_end, rows in seen:
        assert train_end == rows - round(rows * 0.3)  # validation: the config's 30%, not a fixed 15%


def test_refits_choose_the_device_as_train_does(runner, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("on a CUDA machine a cuda refit is valid (tests/test_gpu.py trains on it)")
    config = write_config(tmp_path / "c.yaml", data=CPI, training={"epochs": 1, "device": "cuda"})
    result = runner.invoke(app, ["backtest", str(config), "--origins", "3", "--refit", "every"])
    assert result.exit_code == 2 and "training.device: cuda was asked for" in result.output


def test_train_and_backtest_report_the_same_scores_for_the_same_forecasts(runner, trained_runs):
    for kind, run in trained_runs.items():
        meta = json.loads((run / "meta.json").read_text())
        report = run_backtest(runner, run)  # default origins: the run's own test split
        assert report["origins"] == meta["windows"]["test"]
        for name, theirs in (("model", kind), ("random_walk", "random_walk"), ("drift", "drift")):
            for key in ("mae", "rmse", "mase", "directional_accuracy", "skill", "rel_mae"):
                ours, expected = meta["test_metrics"][name][key], report["overall"][theirs][key]
                assert ours == (expected if expected is None else pytest.approx(expected, rel=1e-12)), (kind, name, key)
        assert meta["test_always_up"] == report["always_up"]


def test_pairwise_diebold_mariano_covers_every_pair_and_names_the_better(runner, trained_runs):
    report = run_backtest(runner, trained_runs["many_to_one"], trained_runs["seq2seq"])
    names = list(report["overall"])
    assert len(report["diebold_mariano"]) == len(names) * (len(names) - 1) // 2
    test = report["diebold_mariano"]["many_to_one vs drift"]
    assert test["a"] == "many_to_one" and test["b"] == "drift" and len(test["by_step"]) == 4
    result = runner.invoke(app, ["backtest", str(trained_runs["many_to_one"]), str(trained_runs["seq2seq"])])
    assert "Diebold-Mariano p-values" in result.output and "always calling 'up' scores" in result.output
