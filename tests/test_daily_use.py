"""Issue 16, forecasting for real: a final fit on all the data, forecasts as of any date, another series of a long
file, standard input and output, --name in backtests, and the Python API, each checked against the path it
shortcuts."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

import lstmcast
from lstmcast.cli import app

from conftest import DATA, write_config

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 4}
LONG = {"path": str(DATA / "stocks_daily_long_ohlcv.csv"), "date_column": "Date", "target": "Close",
        "series_column": "Ticker", "series": "AAPL", "lookback": 10, "horizon": 2, "transform": "log_return"}


def forecast_json(runner, *args: str) -> dict:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def final_and_plain(tmp_path_factory):
    """The same config trained twice: evaluated only, and with the final fit on all rows."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("final")
    config = write_config(base / "c.yaml", data=CPI, model={"hidden_size": 6}, training={"epochs": 3})
    for name, extra in (("plain", []), ("final", ["--final"])):
        result = CliRunner().invoke(app, ["train", str(config), "--out", str(base / name), *extra])
        assert result.exit_code == 0, result.output
    return base / "final", base / "plain", config


def test_final_fit_keeps_the_evaluation_and_saves_a_model_that_saw_every_row(runner, final_and_plain):
    final, plain, _ = final_and_plain
    meta_f, meta_p = (json.loads((run / "meta.json").read_text()) for run in (final, plain))
    assert meta_p["final_fit"] is None
    assert meta_f["final_fit"] == {"epochs": meta_p["best_epoch"], "windows": meta_f["final_fit"]["windows"],
                                   "last_date": meta_p["data"]["last_date"]}
    assert meta_f["test_metrics"] == meta_p["test_metrics"] and meta_f["best_epoch"] == meta_p["best_epoch"]
    windows = meta_p["windows"]  # all rows' windows: the splits' and the ones that straddle two splits
    assert meta_f["final_fit"]["windows"] > windows["train"] + windows["validation"] + windows["test"]
    assert meta_f["scaler"] != meta_p["scaler"]  # fitted on every row, not the training split
    weights_f, weights_p = load_file(final / "model.safetensors"), load_file(plain / "model.safetensors")
    assert any(not bool((weights_f[k] == weights_p[k]).all()) for k in weights_f)
    assert forecast_json(runner, str(final))["last_date"] == meta_f["data"]["last_date"]
    refused = runner.invoke(app, ["backtest", str(final), "--origins", "5"])
    assert refused.exit_code == 2 and "training.final" in refused.output


def test_as_of_equals_forecasting_from_the_csv_cut_by_hand(runner, trained_runs, tmp_path):
    run = trained_runs["seq2seq"]
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    cut = tmp_path / "cut.csv"
    frame[frame.observation_date <= "2012-03-01"].to_csv(cut, index=False)
    by_hand = forecast_json(runner, str(run), "--data", str(cut))
    as_of = forecast_json(runner, str(run), "--as-of", "2012-03-15")
    assert as_of["last_date"] == by_hand["last_date"] == "2012-03-01"
    assert [r["value"] for r in as_of["forecast"]] == [r["value"] for r in by_hand["forecast"]]
    known = dict(zip(frame.observation_date, frame.CPILFESL))
    assert [r["actual"] for r in as_of["forecast"]] == [known[r["date"]] for r in as_of["forecast"]]
    early = runner.invoke(app, ["predict", str(run), "--as-of", "1900-01-01"])
    assert early.exit_code == 3 and "no rows on or before 1900-01-01" in early.output


def test_standard_input_and_output(runner, trained_runs, tmp_path):
    run = trained_runs["many_to_one"]
    text = (DATA / "us_core_cpi_monthly.csv").read_text()
    piped = runner.invoke(app, ["predict", str(run), "--data", "-", "--out", "-"], input=text)
    assert piped.exit_code == 0, piped.output
    written = tmp_path / "f.csv"
    assert runner.invoke(app, ["predict", str(run), "--out", str(written)]).exit_code == 0
    assert piped.stdout == written.read_text()
    assert list(pd.read_csv(io.StringIO(piped.stdout)).columns) == ["step", "date", "CPILFESL"]
    empty = runner.invoke(app, ["predict", str(run), "--data", "-"], input="")
    assert empty.exit_code == 3 and "standard input: empty" in empty.output
    for command in (["dump-states", str(run)], ["backtest", str(run)]):
        refused = runner.invoke(app, [*command, "--out", "-"])
        assert refused.exit_code == 2 and "--out -" in refused.output
    both = runner.invoke(app, ["predict", str(run), "--out", "-", "--json"])
    assert both.exit_code == 2


def test_another_series_of_a_long_file(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data=LONG, model={"hidden_size": 6}, training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    ibm = pd.read_csv(LONG["path"]).query("Ticker == 'IBM'").drop(columns="Ticker")
    ibm.to_csv(tmp_path / "ibm.csv", index=False)
    via_series = forecast_json(runner, str(tmp_path / "run"), "--series", "IBM")
    by_hand = forecast_json(runner, str(tmp_path / "run"), "--data", str(tmp_path / "ibm.csv"),
                            "--set", "data.series_column=", "--set", "data.series=")
    assert via_series["forecast"] == by_hand["forecast"]
    assert via_series["last_value"] == pytest.approx(float(ibm.Close.iloc[-1]))
    missing = runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "IMB"])
    assert missing.exit_code == 3 and "IBM" in missing.output  # did you mean


def test_backtest_names(runner, trained_runs):
    run = trained_runs["many_to_one"]
    result = runner.invoke(app, ["backtest", str(run), "--origins", "6", "--name", "lstm", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "lstm" in report["overall"] and report["sources"] == {"lstm": str(run)}
    for names in (["drift"], ["a", "b"]):
        refused = runner.invoke(app, ["backtest", str(run), "--origins", "6", *sum((["--name", n] for n in names),
                                                                                   [])])
        assert refused.exit_code == 2, refused.output


def test_python_api_matches_the_commands(runner, trained_runs, tmp_path):
    run = trained_runs["seq2seq"]
    model = lstmcast.load(run)
    frame = model.predict()
    command = forecast_json(runner, str(run))
    assert frame["forecast"].tolist() == [r["value"] for r in command["forecast"]]
    assert [str(d.date()) for d in frame["date"]] == [r["date"] for r in command["forecast"]]
    data = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_of = model.predict(data.set_index("observation_date"), as_of="2012-03-15")
        states = model.states(data.iloc[-60:], gates=True)
    assert as_of.attrs["last_date"].isoformat() == "2012-03-01" and as_of["actual"].notna().all()
    dump = tmp_path / "d.npz"
    (tmp_path / "tail.csv").write_text(data.iloc[-60:].to_csv(index=False))
    assert runner.invoke(app, ["dump-states", str(run), "--data", str(tmp_path / "tail.csv"), "--gates", "--out",
                               str(dump)]).exit_code == 0
    with np.load(dump, allow_pickle=False) as saved:
        for name in ("h", "c", "gate_f", "decoder_h"):
            np.testing.assert_array_equal(states[name], saved[name])


def test_python_api_trains_from_a_mapping(tmp_path):
    config = {"data": CPI, "model": {"kind": "many_to_one", "hidden_size": 4}, "training": {"epochs": 1}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lstmcast.train(config, out=tmp_path / "run", final=True)
    assert model.meta.final_fit is not None and (tmp_path / "run" / "model.safetensors").is_file()
    with pytest.raises(lstmcast.errors.ConfigError):
        lstmcast.train({"data": CPI}, out=tmp_path / "other")


def test_a_kill_during_the_final_fit_resumes_to_the_same_weights(tmp_path):
    from test_reliability import FAST, lstmcast, same_weights

    config = write_config(tmp_path / "c.yaml", data=CPI, model={"hidden_size": 6}, **FAST)
    whole = lstmcast("train", str(config), "--final", "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    killed = lstmcast("train", str(config), "--final", "--out", str(tmp_path / "run"), fault="epoch-saved:kill:5")
    assert killed.returncode == -9 and "final fit" in killed.stderr  # the 4 evaluated epochs were done
    resumed = lstmcast("train", "--resume", str(tmp_path / "run"))
    assert resumed.returncode == 0, resumed.stderr
    assert same_weights(tmp_path / "run", tmp_path / "whole")


def test_help_and_messages_read_well(runner, tmp_path):
    top = runner.invoke(app, ["-h"])
    commands = top.output.split("Commands:")[1]
    assert top.exit_code == 0 and "..." not in commands  # the command list is not cut
    for command in ("train", "predict", "dump-states", "backtest", "config"):
        result = runner.invoke(app, [command, "-h"])
        assert result.exit_code == 0 and command in top.output
        assert result.output.count(f"lstmcast {command}") >= 3, command  # usage + at least two examples
        assert "list[" not in result.output and "_dir" not in result.output, command  # metavars a person reads
    config = write_config(tmp_path / "c.yaml", data=CPI, model={"hidden_size": 4}, training={"epochs": 1})
    once = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert "trained 1 epoch (" in once.output
    piped = runner.invoke(app, ["train", str(config), "--data", "-"], input="Date,Close\n")
    assert piped.exit_code == 2 and "give a file" in piped.output


def test_a_long_file_without_series_column_suggests_it(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={**LONG, "series_column": None, "series": None},
                          training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 3 and "set data.series_column: Ticker" in result.output
