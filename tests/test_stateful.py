"""Issue 15: stateful streaming. A stream continued from a saved state with only the new rows equals, bit for bit,
the stream run over the whole CSV in one go, and both equal what dump-states --mode stream records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from lstmcast.cli import app
from tests.conftest import DATA

CSV = DATA / "us_core_cpi_monthly.csv"


def _forecast(runner, *args) -> list[float]:
    result = runner.invoke(app, ["predict", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return [row["value"] for row in json.loads(result.stdout)["forecast"]]


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq"])
def test_a_stream_continued_from_a_saved_state_equals_the_whole_stream_bitwise(trained_runs, runner, tmp_path, kind):
    run = trained_runs[kind]
    frame = pd.read_csv(CSV)
    frame.iloc[:-7].to_csv(tmp_path / "before.csv", index=False)  # yesterday's file
    frame.iloc[-12:].to_csv(tmp_path / "recent.csv", index=False)  # today's: 5 rows it saw, 7 new ones
    _forecast(runner, run, "--stream", "--data", tmp_path / "before.csv", "--save-state", tmp_path / "s1")
    continued = _forecast(runner, run, "--from-state", tmp_path / "s1", "--data", tmp_path / "recent.csv",
                          "--save-state", tmp_path / "s2")
    whole = _forecast(runner, run, "--stream", "--data", CSV, "--save-state", tmp_path / "s3")
    assert continued == whole  # bit for bit: the same floats, printed the same
    for name in ("h", "c", "last_row", "last_raw"):
        assert np.array_equal(load_file(tmp_path / "s2")[name], load_file(tmp_path / "s3")[name]), name
    dump = tmp_path / "stream.npz"
    result = runner.invoke(app, ["dump-states", str(run), "--mode", "stream", "--from", "2018-06-01",
                                 "--out", str(dump)])
    assert result.exit_code == 0, result.output
    recorded, saved = np.load(dump), load_file(tmp_path / "s3")
    assert np.array_equal(recorded["h"][0, -1], saved["h"][:, 0]) and np.array_equal(recorded["c"][0, -1],
                                                                                      saved["c"][:, 0])
    assert np.allclose(recorded["prediction"][0, -1], whole, rtol=1e-6)


def test_a_saved_state_is_refused_for_another_model_a_changed_history_or_without_a_stream(trained_runs, runner,
                                                                                          tmp_path):
    state = tmp_path / "s"
    _forecast(runner, trained_runs["many_to_one"], "--stream", "--save-state", state)
    result = runner.invoke(app, ["predict", str(trained_runs["seq2seq"]), "--from-state", str(state)])
    assert result.exit_code == 4 and "another model" in result.output, result.output
    frame = pd.read_csv(CSV)
    frame.loc[frame.index[-1], "CPILFESL"] += 0.5
    frame.to_csv(tmp_path / "edited.csv", index=False)
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--from-state", str(state),
                                 "--data", str(tmp_path / "edited.csv")])
    assert result.exit_code == 3 and "history changed" in result.output, result.output
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--save-state", str(tmp_path / "t")])
    assert result.exit_code == 2 and "add --stream" in result.output
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--stream", "--levels", "80"])
    assert result.exit_code == 2 and "--levels" in result.output
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--from-state", str(CSV)])
    assert result.exit_code == 4 and "Traceback" not in result.output, result.output
    assert _forecast(runner, trained_runs["many_to_one"], "--from-state", state)  # no new row: the same forecast


def test_calendar_covariates_continue_bitwise_where_the_dates_follow_the_calendar_and_are_refused_elsewhere(
        runner, tmp_path):
    from tests.conftest import write_config

    config = write_config(tmp_path / "c.yaml", data={"future_covariates": ["day_of_week", "days_to_month_end"]},
                          training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run, msft = tmp_path / "run", pd.read_csv(DATA / "msft_daily_ohlcv.csv")
    for saved_after, follows in (("2017-09-12", True), ("2017-09-01", False)):  # 2017-09-04: Labor Day
        msft[msft.Date <= saved_after].to_csv(tmp_path / "before.csv", index=False)
        state = tmp_path / f"{saved_after}.state"
        _forecast(runner, run, "--stream", "--data", tmp_path / "before.csv", "--save-state", state)
        result = runner.invoke(app, ["predict", str(run), "--from-state", str(state), "--data",
                                     str(DATA / "msft_daily_ohlcv.csv"), "--json"])
        if follows:
            assert result.exit_code == 0, result.output
            whole = _forecast(runner, run, "--stream")
            assert [row["value"] for row in json.loads(result.stdout)["forecast"]] == whole
        else:
            assert result.exit_code == 3 and "whole stream would differ" in result.output, result.output


def test_a_run_split_by_dates_reads_a_recent_csv_that_starts_after_its_splits(runner, tmp_path):
    """The split dates say where training ended; a CSV that only feeds the model (a recent download) need not hold
    them, and every command that only reads a model must accept it."""
    from tests.conftest import write_config

    config = write_config(tmp_path / "c.yaml", data={
        "path": str(CSV), "date_column": "observation_date", "target": "CPILFESL", "lookback": 12, "horizon": 3,
        "split": {"validation": "2000-01-01", "test": "2010-01-01"}}, training={"epochs": 1})
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(CSV)
    recent = tmp_path / "recent.csv"
    frame[frame.observation_date >= "2016-01-01"].to_csv(recent, index=False)  # after both split dates
    frame[frame.observation_date >= "2016-01-01"].iloc[:-5].to_csv(tmp_path / "before.csv", index=False)
    assert _forecast(runner, run, "--data", recent) == _forecast(runner, run)  # the same last window, same forecast
    _forecast(runner, run, "--stream", "--data", tmp_path / "before.csv", "--save-state", tmp_path / "s")
    assert _forecast(runner, run, "--from-state", tmp_path / "s", "--data", recent) == \
        _forecast(runner, run, "--stream", "--data", recent)
    for command in (["dump-states", str(run), "--data", str(recent), "--out", str(tmp_path / "d.npz")],
                    ["dump-states", str(run), "--data", str(recent), "--mode", "stream",
                     "--out", str(tmp_path / "s.npz")],
                    ["export", str(run), "--data", str(recent), "--onnx", str(tmp_path / "onnx")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    result = runner.invoke(app, ["inspect", str(run), "--data", str(recent), "--out", str(tmp_path / "i")])
    assert result.exit_code == 3 and "training windows" in result.output  # inspect needs the training rows, and says so
    result = runner.invoke(app, ["train", str(config), "--data", str(recent), "--out", str(tmp_path / "r2")])
    assert result.exit_code == 3 and "after both split dates" in result.output  # training does need them
    result = runner.invoke(app, ["predict", str(run), "--data", str(tmp_path / "before.csv"), "--as-of", "2030-01-01"])
    assert result.exit_code == 0 and "is after the CSV's last row" in result.output


def test_a_stream_forecast_carries_a_drift_flag_against_the_streams_own_training_states(trained_runs, runner,
                                                                                        tmp_path):
    """The flag of a stream forecast: the final carried state against the stream's states on the training dates,
    recomputed here from dump-states --mode stream; a continuation carries the saved reference and flags the same."""
    from lstmcast.introspect.drift import DriftReference, flat_state, reference_rows
    from lstmcast.runs.load import open_run, run_data

    run = trained_runs["seq2seq"]
    frame = pd.read_csv(CSV)
    frame.iloc[:-7].to_csv(tmp_path / "before.csv", index=False)
    frame.iloc[-7:].to_csv(tmp_path / "new.csv", index=False)  # only the new rows
    whole = runner.invoke(app, ["predict", str(run), "--stream", "--json"])
    assert whole.exit_code == 0, whole.output
    whole = json.loads(whole.stdout)["state_drift"]
    _forecast(runner, run, "--stream", "--data", tmp_path / "before.csv", "--save-state", tmp_path / "s")
    continued = runner.invoke(app, ["predict", str(run), "--from-state", str(tmp_path / "s"), "--data",
                                    str(tmp_path / "new.csv"), "--json"])
    assert continued.exit_code == 0 and "cannot check that it continues" in continued.stderr
    assert json.loads(continued.stdout)["state_drift"] == whole and whole["reference"] == "stream"
    dump = tmp_path / "stream.npz"
    assert runner.invoke(app, ["dump-states", str(run), "--mode", "stream", "--out", str(dump)]).exit_code == 0
    recorded, opened = np.load(dump), open_run(run)
    _, prepared = run_data(opened, CSV)
    rows = reference_rows(prepared, opened.meta.target_dates["train"])
    assert list(pd.to_datetime(recorded["step_date"][0])) == list(prepared.dates)  # one stream, every row
    reference = DriftReference.fit(flat_state(recorded["h"][0, rows], recorded["c"][0, rows]))
    final = flat_state(recorded["h"][0, -1:], recorded["c"][0, -1:])
    assert whole["distance"] == pytest.approx(reference.distance(final)[0], rel=1e-5)
    assert whole["training_states"] == len(rows) and whole["threshold"] == pytest.approx(reference.threshold, rel=1e-5)
    short = runner.invoke(app, ["predict", str(run), "--stream", "--data", str(tmp_path / "new.csv"), "--json"])
    assert short.exit_code == 0 and "state_drift" not in json.loads(short.stdout)
    assert "no state drift flag" in short.stderr


def _edited_state(source, target, change) -> None:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(source), framework="np") as handle:
        tensors, meta = {name: handle.get_tensor(name) for name in handle.keys()}, handle.metadata()
    about = json.loads(meta["about"])
    change(tensors, about)
    save_file(tensors, str(target), metadata={**meta, "about": json.dumps(about)})


@pytest.mark.parametrize("change, problem", [
    (lambda t, a: t.update(h=t["h"][:, :, :-1]), "sizes"),
    (lambda t, a: t.update(h=t["h"].astype(np.float64)), "float64"),
    (lambda t, a: t["c"].__setitem__((0, 0, 0), np.nan), "non-finite"),
    (lambda t, a: a.update(last_date="yesterday"), "not YYYY-MM-DD"),
    (lambda t, a: a.pop("rows"), "'rows' missing"),
    (lambda t, a: t.pop("drift_whitening"), "drift reference"),
    (lambda t, a: t.update(drift_mean=np.zeros(5), drift_whitening=np.eye(5)), "sizes"),
    (lambda t, a: t.update(drift_training=t["drift_training"][::-1].copy()), "drift reference"),
    (lambda t, a: t.update(drift_training=-t["drift_training"]), "drift reference"),
    (lambda t, a: a.update(stream_start="2020-01-01"), "after its last row"),
    (lambda t, a: a.update(rows=-5), "rows read"),
    (lambda t, a: a.update(rows=True), "'rows' missing or not a int"),
    (lambda t, a: a.update(series=5), "'series' is neither"),
    (lambda t, a: a.update(series="AAPL"), "reads a CSV holding one series"),
    (lambda t, a: t.update(drift_training=t["drift_training"][:10].copy()), "a drift reference of 10"),
])
def test_a_damaged_state_file_is_refused_as_such_with_or_without_json(trained_runs, runner, tmp_path, change,
                                                                       problem):
    run, state = trained_runs["many_to_one"], tmp_path / "s"
    _forecast(runner, run, "--stream", "--save-state", state)
    _edited_state(state, tmp_path / "edited", change)
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["predict", str(run), "--from-state", str(tmp_path / "edited"), *extra])
        assert result.exit_code == 4 and problem in result.output and "save it again" in result.output, result.output
        assert "Traceback" not in result.output


def test_a_state_without_a_reference_says_why_it_has_no_flag_and_a_state_of_another_series_is_refused(runner,
                                                                                                     tmp_path):
    from tests.conftest import write_config

    run = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", data={"path": str(DATA / "stocks_daily_long_ohlcv.csv"),
                                                     "series_column": "Ticker", "series": "AAPL"},
                          training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(run)]).exit_code == 0
    _forecast(runner, run, "--stream", "--save-state", tmp_path / "s")
    result = runner.invoke(app, ["predict", str(run), "--from-state", str(tmp_path / "s"), "--set",
                                 "data.series=MSFT"])
    assert result.exit_code == 3 and "saved reading series AAPL" in result.output, result.output
    _edited_state(tmp_path / "s", tmp_path / "bare", lambda t, a: [t.pop(f"drift_{k}") for k in
                                                                     ("mean", "whitening", "training")])
    result = runner.invoke(app, ["predict", str(run), "--from-state", str(tmp_path / "bare"), "--json"])
    assert result.exit_code == 0 and "saved state carries no reference" in result.stderr
    assert "state_drift" not in json.loads(result.stdout)
    result = runner.invoke(app, ["predict", str(run), "--series", "MSFT"])
    assert result.exit_code == 0, result.output  # a long CSV: --series picks another of its series


def test_a_state_saved_before_the_training_dates_end_saves_no_reference_and_says_so(trained_runs, runner, tmp_path):
    """Its continuation would read more training dates than the saved reference holds: no flag rather than a flag
    against part of the training states (the whole stream's differs)."""
    from safetensors import safe_open

    from lstmcast.runs.load import open_run

    run = trained_runs["many_to_one"]
    train_last = open_run(run).meta.target_dates["train"][1]
    frame = pd.read_csv(CSV)
    frame[pd.to_datetime(frame.observation_date) < pd.Timestamp(train_last)].to_csv(tmp_path / "early.csv",
                                                                                    index=False)
    early = runner.invoke(app, ["predict", str(run), "--stream", "--data", str(tmp_path / "early.csv"),
                                "--save-state", str(tmp_path / "s"), "--json"])
    assert early.exit_code == 0 and "state_drift" in json.loads(early.stdout)  # its own flag, on what it read
    with safe_open(str(tmp_path / "s"), framework="np") as handle:
        assert not [name for name in handle.keys() if name.startswith("drift_")]
    result = runner.invoke(app, ["predict", str(run), "--from-state", str(tmp_path / "s"), "--json"])
    assert result.exit_code == 0 and "state_drift" not in json.loads(result.stdout)
    assert f"through {train_last}" in result.stderr
