"""lstmcast tune: search spaces refused with their dotted path, a sweep killed with -9 and resumed without running a
finished trial again, two processes sharing one sweep, and the backtest objective recomputed by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from lstmcast.config import load_config
from lstmcast.config.tune import read_space, split_tune

from conftest import DATA
from test_distributed import run

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "transform": "log_return", "lookback": 12, "horizon": 4}
TINY = {"data": CPI, "model": {"kind": "many_to_one", "hidden_size": 8},
        "training": {"epochs": 6, "batch_size": 64, "patience": 0, "seed": 1, "threads": 1},
        "tune": {"model.hidden_size": {"choices": [4, 8, 16]},
                 "training.learning_rate": {"low": 0.001, "high": 0.01, "log": True}}}


def tiny(tmp_path: Path, **tune: dict) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "tune": tune or TINY["tune"]}))
    return path


def tune(config: Path, out: Path, *extra: str, fault: str = "") -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "lstmcast", "tune", str(config), "--out", str(out), "--pruner", "none",
                *extra], fault=fault)


def trials(out: Path) -> list[dict]:
    return [row for row in json.loads(tune_json(out))["trials"]]


def tune_json(out: Path) -> str:
    result = tune(out / "sweep.yaml", out, "--trials", "1", "--json")  # finished sweep: reads, runs nothing
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("space, says", [
    ({"model.hiden_size": {"choices": [4, 8]}}, "tune.model.hiden_size: the value 4 gives an invalid config "
                                                "(model.hiden_size: unknown key (did you mean 'hidden_size'?))"),
    ({"model.hidden_size": {"low": 0, "high": 8}}, "tune.model.hidden_size: the value 0 gives an invalid config"),
    ({"training.learning_rate": {"low": 0.01, "high": 0.001}}, "tune.training.learning_rate: low (0.01) must be "
                                                              "below high"),
    ({"training.learning_rate": {"low": 0, "high": 0.1, "log": True}}, "tune.training.learning_rate: a log range "
                                                                      "needs low > 0"),
    ({"data.horizon": {"choices": [4, 8]}}, "tune.data.horizon: every trial must share it"),
    ({"data.scaler": {"choices": ["robust", "standard"]}}, "tune.data.scaler: it changes what the validation loss "
                                                           "measures"),
    ({"model.hidden_size": [4, 8]}, "tune.model.hidden_size: give {low: A, high: B}"),
    ({"model.hidden_size": {"choices": []}}, "tune.model.hidden_size: choices is a non-empty list"),
])
def test_bad_search_spaces_are_refused_with_the_dotted_path(tmp_path, space, says):
    base, section = split_tune(yaml.safe_load(tiny(tmp_path, **space).read_text()))
    with pytest.raises(Exception) as refused:
        read_space(section, base, source="tiny.yaml", objective="validation")
    assert says in str(refused.value)


def test_a_scale_changing_key_is_allowed_for_the_backtest_objective(tmp_path):
    base, section = split_tune(yaml.safe_load(tiny(tmp_path, **{"data.scaler": {"choices": ["robust", "none"]}})
                                              .read_text()))
    assert [d.key for d in read_space(section, base, source="t", objective="backtest")] == ["data.scaler"]


def test_a_sweep_killed_mid_trial_resumes_it_and_runs_no_finished_trial_again(tmp_path):
    config, out = tiny(tmp_path), tmp_path / "sweep"
    killed = tune(config, out, "--trials", "4", fault="epoch-saved:kill:9")  # trial 1, after its 3rd epoch
    assert killed.returncode == -9
    first = (out / "trials" / "trial-0000" / "meta.json").read_text()
    assert (out / "trials" / "trial-0001.partial" / "checkpoint.safetensors").is_file()
    resumed = tune(config, out, "--trials", "4")
    assert resumed.returncode == 0, resumed.stderr
    assert "trial 1 stopped with its process; it is retried, resuming trials/trial-0001" in resumed.stderr
    rows = trials(out)
    assert sorted(row["state"] for row in rows) == ["COMPLETE"] * 4 + ["FAIL"]
    assert (out / "trials" / "trial-0000" / "meta.json").read_text() == first  # trial 0 was not run again
    retry = next(row for row in rows if "retry of trial 1" in row["note"])
    assert retry["run_dir"] == "trials/trial-0001" and retry["epochs_run"] == 6
    history = (out / "trials" / "trial-0001" / "history.csv").read_text().splitlines()
    assert len(history) == 7  # epochs 1-3 from before the kill, 4-6 resumed: none trained twice
    completed = [row["run_dir"] for row in rows if row["state"] == "COMPLETE"]
    assert len(set(completed)) == 4 and all((out / where / "meta.json").is_file() for where in completed)
    best = load_config(out / "best.yaml")  # a plain config, data path relative to the sweep
    winner = min((row for row in rows if row["state"] == "COMPLETE"), key=lambda row: row["value"])
    assert best.model.hidden_size == winner["model.hidden_size"]
    assert best.training.learning_rate == pytest.approx(winner["training.learning_rate"])


def test_two_processes_share_one_sweep(tmp_path):
    config, out = tiny(tmp_path), tmp_path / "sweep"
    command = [sys.executable, "-m", "lstmcast", "tune", str(config), "--out", str(out), "--trials", "4",
               "--pruner", "none"]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    rows = trials(out)
    assert 4 <= len(rows) <= 5 and all(row["state"] == "COMPLETE" for row in rows)  # each may start one more
    assert len({row["run_dir"] for row in rows}) == len(rows)


def test_the_backtest_objective_is_the_validation_mase_recomputed_by_hand(tmp_path):
    from lstmcast.data.transforms import rows_consumed
    from lstmcast.forecasting.predict import predict_scaled, to_user_units
    from lstmcast.runs.load import open_run, run_data

    out = tmp_path / "sweep"
    result = tune(tiny(tmp_path), out, "--trials", "1", "--objective", "backtest", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["trials"][0]
    run_dir = open_run(out / row["run_dir"])
    series, prepared = run_data(run_dir)
    origins = prepared.origins("validation")
    forecast = to_user_units(prepared, predict_scaled(run_dir.model, prepared.windows(origins)[0]), origins)
    y = series.values.iloc[:, 0].to_numpy()
    raw = origins + rows_consumed(run_dir.config.data)
    history = y[: raw[0] + 1]
    mase = [np.mean(np.abs(forecast[:, k - 1] - y[raw + k])) / np.mean(np.abs(history[k:] - history[:-k]))
            for k in range(1, prepared.horizon + 1)]
    assert row["value"] == pytest.approx(float(np.mean(mase)), rel=1e-9)


def test_a_sweep_whose_data_cannot_be_read_fails_before_any_trial(tmp_path, runner):
    from lstmcast.cli import app

    config = tiny(tmp_path)
    config.write_text(config.read_text().replace("us_core_cpi_monthly.csv", "missing.csv"))
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path / "sweep"), "--trials", "2"])
    assert result.exit_code == 3 and "missing.csv" in result.output and not (tmp_path / "sweep").exists()


def test_a_sweep_where_every_trial_fails_says_so_and_exits_non_zero(tmp_path, runner):
    from lstmcast.cli import app

    config = tiny(tmp_path, **{"data.lookback": {"choices": [560, 580]}})  # valid keys, no window fits the data
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path / "sweep"), "--trials", "2",
                                 "--pruner", "none"])
    assert result.exit_code == 2 and "no trial of the sweep completed" in result.output
    assert (tmp_path / "sweep" / "leaderboard.csv").read_text().count("FAIL") == 2


def test_force_refuses_to_delete_a_sweep_another_process_is_running(tmp_path, runner):
    from lstmcast.cli import app
    from lstmcast.files.locks import shared_lock

    out = tmp_path / "sweep"
    with shared_lock(out):  # another process working on it
        result = runner.invoke(app, ["tune", str(tiny(tmp_path)), "--out", str(out), "--trials", "1", "--force"])
    assert result.exit_code == 6 and "in use by another lstmcast process" in result.output


def test_a_database_storage_holds_the_study_and_resumes_it(tmp_path, runner):
    from lstmcast.cli import app

    config, out, url = tiny(tmp_path), tmp_path / "sweep", f"sqlite:///{tmp_path / 'study.db'}"
    first = runner.invoke(app, ["tune", str(config), "--out", str(out), "--trials", "1", "--storage", url, "--json"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["tune", str(config), "--out", str(out), "--trials", "2", "--storage", url, "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["ran_here"] == 1 and [row["state"] for row in report["trials"]] == ["COMPLETE", "COMPLETE"]
    assert not (out / "study.journal").exists() and (tmp_path / "study.db").is_file()
