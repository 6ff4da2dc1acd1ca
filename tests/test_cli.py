from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file

from lstmcast.cli import app

from conftest import DATA, write_config, write_csv


def test_train_writes_a_complete_run_and_reports_metrics_beside_baselines(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={"features": ["Volume"], "feature_transform": "none"})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["test_metrics"]) == {"model", "random_walk", "drift"}
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "config.yaml", "history.csv", "loss.png", "meta.json", "model.safetensors", "test_forecast.png"]
    meta = json.loads((run / "meta.json").read_text())
    assert meta["format_version"] == 4 and meta["columns"] == ["Close", "Volume"]
    assert meta["frequency"] == "B" and meta["data"]["rows"] == 7983
    assert meta["test_metrics"] == report["test_metrics"]
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["features"] == ["Volume"]
    assert len(pd.read_csv(run / "history.csv")) == 2
    assert not (tmp_path / "run.partial").exists()


def test_random_walk_metrics_are_recomputed_independently(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml")
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--json"])
    reported = json.loads(result.stdout)["test_metrics"]["random_walk"]
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    close = pd.read_csv(DATA / "msft_daily_ohlcv.csv")["Close"].to_numpy()[1:]  # row 0 consumed by log_return
    start = meta["split_rows"]["validation_end"] - 1  # the first window whose targets are all test rows
    origins = np.arange(start, len(close) - 3)
    actual = close[origins[:, None] + np.arange(1, 4)]
    errors = actual - close[origins][:, None]
    assert reported["mae"] == pytest.approx(np.abs(errors).mean(), rel=1e-12)
    assert reported["rmse"] == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-12)


def test_same_seed_same_weights_bitwise(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml")
    for name in ("a", "b"):
        assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / name)]).exit_code == 0
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_existing_run_is_not_overwritten_without_force(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--set", "training.seed=3"])
    assert result.exit_code == 6 and "already exists; pass --force" in result.output
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--set", "training.seed=3",
                                 "--force"])
    assert result.exit_code == 0 and (tmp_path / "run" / "model.safetensors").read_bytes() != before


def test_predict_is_dated_on_the_trading_calendar_in_prices(runner, trained_runs, tmp_path):
    for kind, run in trained_runs.items():
        result = runner.invoke(app, ["predict", str(run), "--json", "--out", str(tmp_path / f"{kind}.csv")])
        assert result.exit_code == 0, result.output
        forecast = json.loads(result.stdout)
        assert forecast["last_date"] == "2018-11-01" and forecast["last_value"] == 259.481
        assert [row["date"] for row in forecast["forecast"]] == ["2018-12-01", "2019-01-01", "2019-02-01",
                                                                   "2019-03-01"]
        assert all(200 < row["value"] < 320 for row in forecast["forecast"])  # index points, not scaled returns
        written = pd.read_csv(tmp_path / f"{kind}.csv")
        assert list(written.columns) == ["step", "date", "CPILFESL"] and len(written) == 4


def test_predict_on_msft_uses_business_days(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", training={"epochs": 1})
    runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--horizon", "2"])
    dates = [row["date"] for row in json.loads(result.stdout)["forecast"]]
    assert dates == ["2017-11-13", "2017-11-14"]  # 2017-11-10 was a Friday


def test_predict_reads_columns_by_name_and_refuses_missing_ones(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={"features": ["High"], "feature_transform": "log_return"},
                          training={"epochs": 1})
    runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    frame = pd.read_csv(DATA / "msft_daily_ohlcv.csv").tail(100)
    frame[["High", "Close", "Date"]].to_csv(tmp_path / "reordered.csv", index=False)
    plain = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json"])
    reordered = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--data", str(tmp_path / "reordered.csv")])
    assert reordered.exit_code == 0, reordered.output
    assert json.loads(plain.stdout)["forecast"] == json.loads(reordered.stdout)["forecast"]  # drift needs old rows
    frame[["Date", "Close"]].to_csv(tmp_path / "no_high.csv", index=False)
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "no_high.csv")])
    assert result.exit_code == 3
    assert "no column 'High'" in result.output and "the model needs the columns Close, High" in result.output
    short = write_csv(tmp_path / "short.csv", "Date,Close,High\n2020-01-01,1,1\n2020-01-02,1,1\n")
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(short)])
    assert result.exit_code == 3 and "reads windows of 16 observations" in result.output


def test_corrupt_or_unknown_runs_are_refused_clearly(runner, trained_runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    (run / "model.safetensors").write_bytes(b"\x80\x04\x95garbage")
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "pickle or torch archive, which lstmcast never loads" in result.output
    (run / "model.safetensors").write_bytes((trained_runs["many_to_one"] / "model.safetensors").read_bytes()[:100])
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "not a valid safetensors file" in result.output
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "run format version 99 is not supported" in result.output
    result = runner.invoke(app, ["predict", str(tmp_path / "nope")])
    assert result.exit_code == 4 and "no such run directory" in result.output


def test_errors_have_no_traceback_unless_debug(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={"target": "close"})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert "no column 'close'; did you mean 'Close'?" in result.output
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--debug"])
    assert result.exit_code == 3 and "Traceback" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {path: x, target: y}\nmodel: {kind: many_to_one, hiden_size: 3}\n")
    result = runner.invoke(app, ["train", str(bad)])
    assert result.exit_code == 2 and "model.hiden_size: unknown key (did you mean 'hidden_size'?)" in result.output


def test_markup_in_column_names_is_printed_literally(runner, tmp_path):
    csv = write_csv(tmp_path / "m.csv", "Date,close[/bold]\n2020-01-01,1\n")
    config = write_config(tmp_path / "c.yaml", data={"path": str(csv), "target": "[red]x"})
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 3 and "'close[/bold]'" in result.output and "'[red]x'" in result.output


def test_help_has_examples(runner):
    for command in ("train", "predict"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output and f"lstmcast {command} " in result.output


def test_predict_past_the_trained_horizon(runner, trained_runs, tmp_path):
    """seq2seq decodes further, a target-only many_to_one rolls forward, one with extra inputs is refused."""
    for kind, run in trained_runs.items():
        short = json.loads(runner.invoke(app, ["predict", str(run), "--json"]).stdout)["forecast"]
        result = runner.invoke(app, ["predict", str(run), "--json", "--horizon", "10"])
        assert result.exit_code == 0, result.output
        longer = json.loads(result.stdout)["forecast"]
        assert len(longer) == 10 and longer[:4] == short and longer[-1]["date"] == "2019-09-01"
        assert "steps beyond feed its own forecasts back" in result.output
    config = write_config(tmp_path / "c.yaml", data={"features": ["High"], "feature_transform": "log_return"},
                          training={"epochs": 1})
    runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--horizon", "4"])
    assert result.exit_code == 2 and "extra input columns whose future is unknown" in result.output


def test_forecasts_land_on_trading_sessions_with_an_exchange_calendar(runner, tmp_path):
    """Issue 10: --horizon 10 from 2017-11-10 dated Thanksgiving 2017-11-23 a trading day."""
    config = write_config(tmp_path / "c.yaml", data={"calendar": "XNAS"}, training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--horizon", "10"])
    forecast = json.loads(result.stdout)
    dates = [row["date"] for row in forecast["forecast"]]
    assert "2017-11-23" not in dates and dates[8:] == ["2017-11-24", "2017-11-27"]
    assert forecast["calendar"] == "XNAS trading sessions"
    frame = pd.read_csv(DATA / "msft_daily_ohlcv.csv")
    frame[frame.Date <= "2017-07-03"].to_csv(tmp_path / "july.csv", index=False)  # the day before Independence Day
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--data", str(tmp_path / "july.csv")])
    assert [row["date"] for row in json.loads(result.stdout)["forecast"]] == ["2017-07-05", "2017-07-06",
                                                                              "2017-07-07"]
    plain = write_config(tmp_path / "p.yaml", training={"epochs": 1})
    runner.invoke(app, ["train", str(plain), "--out", str(tmp_path / "plain")])
    result = runner.invoke(app, ["predict", str(tmp_path / "plain")])
    assert "business days (Mon-Fri), inferred from the data; holidays are not known" in result.output
