"""What an outside review of 0.2.0 found: --force that could overwrite a price file or a user's notes, messages that
leaked a file's first line or a terminal escape, hangs on FIFOs, edits to meta.json that went unnoticed, calendar
anchors read wrongly, and tracebacks or late refusals where a clear early error belongs."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from lstmcast.cli import app
from lstmcast.data.calendar import Calendar, infer_frequency
from lstmcast.errors import DataError
from lstmcast.evaluation.backtest import default_season
from lstmcast.runs.layout import is_partial, is_run

from conftest import DATA, edit_meta, write_config, write_csv
from test_reliability import CPI, FAST, lstmcast


def test_force_never_overwrites_a_price_file_that_looks_like_an_old_forecast(runner, trained_runs, tmp_path):
    prices = write_csv(tmp_path / "mine.csv", "date,close\n2024-01-02,101.5\n2024-01-03,102.25\n")
    before = prices.read_bytes()
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--out", str(prices), "--force"])
    assert result.exit_code == 6 and "not a forecast CSV written by lstmcast" in result.output, result.output
    assert prices.read_bytes() == before
    ours = tmp_path / "ours.csv"
    assert runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--out", str(ours)]).exit_code == 0
    assert runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--out", str(ours), "--force"]
                         ).exit_code == 0


def test_force_never_deletes_files_a_user_put_into_a_run(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    (run / "NOTES.txt").write_text("my notes")
    config = write_config(tmp_path / "c.yaml", training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--force"])
    assert result.exit_code == 6 and "holds files lstmcast did not write" in result.output, result.output
    assert (run / "NOTES.txt").read_text() == "my notes"
    partial = tmp_path / "other.partial"
    (partial / ".git").mkdir(parents=True)
    assert not is_partial(partial) and not is_run(run)


def test_recognising_outputs_never_blocks_on_a_fifo(tmp_path):
    for name in (".lstmcast", "meta.json"):
        folder = tmp_path / name.strip(".")
        folder.mkdir()
        os.mkfifo(folder / name)
        done = threading.Event()
        worker = threading.Thread(target=lambda: (is_run(folder), is_partial(folder), done.set()), daemon=True)
        worker.start()
        worker.join(10)
        assert done.is_set(), f"is_run blocked on a FIFO named {name}"


def test_a_run_naming_a_file_of_secrets_does_not_print_its_first_line(runner, trained_runs, tmp_path):
    secret = write_csv(tmp_path / "env", "API_TOKEN=hunter2,PASSWORD=swordfish\n1,2\n")
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    edit_meta(run, lambda meta: meta["data"].update(path=str(secret)))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 3 and "came from the run's meta.json" in result.output, result.output
    assert "hunter2" not in result.output and "API_TOKEN" not in result.output
    chosen = runner.invoke(app, ["predict", str(run), "--data", str(secret)])  # a path the user chose: listed
    assert chosen.exit_code == 3 and "API_TOKEN" in chosen.output


def test_column_names_reach_the_terminal_without_escapes_or_emoji(runner, tmp_path):
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv").rename(columns={"CPILFESL": "CPI\x1b[2J:x:"})
    frame.to_csv(tmp_path / "odd.csv", index=False)
    config = write_config(tmp_path / "c.yaml", data={**CPI, "path": str(tmp_path / "odd.csv"),
                                                     "target": "CPI\x1b[2J:x:"}, training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "CPI\\x1b[2J:x:" in result.output and "❌" not in result.output


def test_an_edited_meta_json_is_refused(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    meta = json.loads((run / "meta.json").read_text())
    meta["scaler"]["center"][0] += 1.0  # every forecast would shift, silently
    (run / "meta.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "meta_sha256" in result.output, result.output
    edit_meta(run, lambda m: m.update(format_version=1))  # claiming 0.1.0's format to skip the hashes
    downgraded = runner.invoke(app, ["predict", str(run)])
    assert downgraded.exit_code == 4 and "format 1 was written only by lstmcast 0.1" in downgraded.output


@pytest.mark.parametrize("freq, expected, season", [
    ("QE-DEC", "QE", 4), ("QE-JAN", "QE-OCT", 4), ("QS-FEB", "QS-FEB", 4), ("YE-JUN", "YE-JUN", 1),
    ("YS", "YS", 1), ("BME", "BME", 12), ("BQE-NOV", "BQE-NOV", 4), ("MS", "MS", 12), ("W-WED", "W-WED", 52),
])
def test_anchored_frequencies_continue_the_data(freq, expected, season):
    dates = pd.DatetimeIndex(pd.date_range("2001-01-01", periods=48, freq=freq).to_numpy())  # as read: no freq
    inferred = infer_frequency(dates[:40])
    assert inferred == expected and default_season(inferred) == season
    assert list(Calendar(inferred).following(dates[39], 8)) == list(dates[40:])


def test_monthly_on_a_fixed_day_and_its_season():
    dates = pd.DatetimeIndex(pd.date_range("2001-01-01", periods=30, freq="6MS").to_numpy()) + pd.Timedelta(days=14)
    assert infer_frequency(dates) == "months=6" and default_season("months=6") == 2


def test_forecast_dates_past_the_year_9999_are_refused():
    with pytest.raises(DataError, match="year 9999"):
        Calendar("MS").following(pd.Timestamp("9999-10-01"), 5)


def test_decimal_commas_refuse_a_dot_that_is_not_a_thousands_separator(tmp_path):
    from lstmcast.data.reading import load_series

    path = write_csv(tmp_path / "eu.csv", "Date;Close\n2024-01-02;1.234,5\n2024-01-03;12.5\n")
    with pytest.raises(DataError, match=r"line 3: '12.5'"):
        load_series(path, date_column="Date", columns=["Close"], sep=";", decimal=",")
    write_csv(path, "Date;Close\n2024-01-02;1.234,5\n2024-01-03;12,5\n")
    assert load_series(path, date_column="Date", columns=["Close"], sep=";", decimal=",").values["Close"].tolist() \
        == [1234.5, 12.5]


def test_a_multi_line_quoted_cell_does_not_shift_the_line_numbers(tmp_path):
    from lstmcast.data.reading import load_series

    path = write_csv(tmp_path / "q.csv", 'Date,Close,Note\n2024-01-02,1,"two\nlines"\n2024-01-03,2\n')
    with pytest.raises(DataError, match="line 4 has 2"):
        load_series(path, date_column="Date", columns=["Close"])


def test_ets_chooses_its_scale_without_rows_after_the_last_origin():
    pytest.importorskip("statsmodels")
    from lstmcast.forecasting.baselines import ets

    history = 100 + np.cumsum(np.random.default_rng(0).normal(0, 1, 200))
    origins = np.arange(150, 180)
    later = history.copy()
    later[190] = -1.0  # after the last origin: must change nothing
    np.testing.assert_array_equal(ets(history, origins, 3, fit_until=149), ets(later, origins, 3, fit_until=149))


def test_early_refusals_before_any_work(runner, trained_runs, tmp_path):
    run = trained_runs["many_to_one"]
    notes = tmp_path / "notes.png"
    notes.write_text("not a plot")
    dump = tmp_path / "d.npz"
    plotted = runner.invoke(app, ["dump-states", str(run), "--out", str(dump), "--plot", str(notes), "--force"])
    assert plotted.exit_code == 6 and "not a plot written by lstmcast" in plotted.output and not dump.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x.txt").write_text("x")
    report = runner.invoke(app, ["backtest", str(run), "--out", str(mine), "--force"])
    assert report.exit_code == 6 and "not a backtest report" in report.output
    mismatch = runner.invoke(app, ["dump-states", str(run), "--format", "npy", "--out", str(tmp_path / "d.parquet")])
    assert mismatch.exit_code == 2 and "does not match" in mismatch.output
    resume = runner.invoke(app, ["train", "--resume", str(run), "--out", str(tmp_path / "elsewhere")])
    assert resume.exit_code == 2 and "--out" in resume.output


def test_a_truncated_dump_is_not_replaced_and_not_a_traceback(runner, trained_runs, tmp_path):
    dump = tmp_path / "d.npz"
    assert runner.invoke(app, ["dump-states", str(trained_runs["many_to_one"]), "--out", str(dump)]).exit_code == 0
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    result = runner.invoke(app, ["dump-states", str(trained_runs["many_to_one"]), "--out", str(dump), "--force"])
    assert result.exit_code == 6 and "not a state dump written by lstmcast" in result.output, result.output


def test_a_huge_model_file_is_refused_before_it_is_hashed(trained_runs, tmp_path, monkeypatch):
    from lstmcast.errors import ModelFileError
    from lstmcast.runs import load

    monkeypatch.setattr(load, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ModelFileError, match="larger than any model lstmcast writes"):
        load.open_run(trained_runs["many_to_one"])


def test_validation_date_after_the_test_start_is_explained(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={**CPI, "split": {"validation": "2015-01-01", "test": 0.3}},
                          training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 3 and "does not come before the test split" in result.output, result.output


def test_a_calendar_on_monthly_data_is_refused_at_train(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", data={**CPI, "calendar": "XNYS"}, training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "not daily rows" in result.output and not (tmp_path / "run").exists()


def test_config_messages_show_quotes_plainly(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", model={"kind": "transformer"})
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2 and "\\'" not in result.output and "'many_to_one'" in result.output, result.output


def test_damaged_checkpoints_are_refused_at_resume(tmp_path):
    config = write_config(tmp_path / "c.yaml", data=CPI, model={"kind": "seq2seq", "hidden_size": 8}, **FAST)
    killed = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="epoch-saved:kill:2")
    assert killed.returncode == -9
    partial = tmp_path / "run.partial"

    def damaged(name: str, change) -> Path:
        copy = tmp_path / name
        shutil.copytree(partial, copy.with_name(name + ".partial"))
        change(copy.with_name(name + ".partial"))
        return copy

    def bad_optimizer(folder: Path) -> None:
        path = folder / "checkpoint.safetensors"
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = load_file(path)
        key = next(k for k in tensors if k.startswith("optimizer.") and k.endswith("exp_avg"))
        tensors[key] = tensors[key].flatten()[:3].clone()
        save_file(tensors, path, metadata=metadata)

    cases = {"utf8": (lambda f: (f / "config.yaml").write_bytes(b"\xff\xfe"), "not UTF-8"),
             "optimizer": (bad_optimizer, "does not fit this model")}
    for name, (change, message) in cases.items():
        result = lstmcast("train", "--resume", str(damaged(name, change)))
        assert result.returncode == 4 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_format_2_run_of_0_2_loads_with_a_notice_and_a_later_claim_is_refused(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)

    def as_0_2(meta: dict) -> None:
        meta.update(format_version=2, lstmcast_version="0.2.0")
        meta.pop("meta_sha256")

    edit_meta(run, as_0_2)
    meta = json.loads((run / "meta.json").read_text())
    meta.pop("meta_sha256")
    (run / "meta.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 0 and "did not seal meta.json" in result.output, result.output
    edit_meta(run, lambda m: m.update(lstmcast_version="0.3.0"))
    assert runner.invoke(app, ["predict", str(run)]).exit_code == 4


# A second outside review (of the daily-use and interval work) found these.

@pytest.mark.parametrize("dates", [
    pd.date_range("1700-12-31", periods=55, freq="10YE"),  # decadal: was months=120, a crash after training
    pd.date_range("2000-01-01", periods=60, freq="SME"),  # twice a month: trained as monthly, then predict refused
])
def test_spacings_lstmcast_cannot_date_are_refused_before_training(dates):
    with pytest.raises(DataError, match="cannot date"):
        infer_frequency(pd.DatetimeIndex(dates.to_numpy()))


def test_a_holiday_week_does_not_move_weekly_data_to_another_weekday():
    fridays = pd.date_range("2023-01-06", "2024-03-22", freq="W-FRI").append(pd.DatetimeIndex(["2024-03-28"]))
    assert infer_frequency(fridays) == "W-FRI"


def test_unbounded_intervals_are_counted_apart_not_as_covered():
    from lstmcast.evaluation.intervals import interval_scores

    low, high = np.array([[-np.inf], [0.0]]), np.array([[np.inf], [1.0]])
    scores = interval_scores(low, high, np.array([[5.0], [2.0]]), alpha=0.2)
    assert scores["unbounded"] == 1 and scores["coverage"] == [0.0] and scores["width"] == [1.0]


def test_levels_are_checked_alike_in_the_api(trained_runs):
    import lstmcast

    model = lstmcast.load(trained_runs["seq2seq"])
    for levels in ([0], [0.8], "80", [float("nan")], [80, 80.0000001]):
        with pytest.raises(lstmcast.errors.ConfigError):
            model.predict(levels=levels)


def test_intervals_of_another_series_are_refused(runner, tmp_path):
    long = {"path": str(DATA / "stocks_daily_long_ohlcv.csv"), "date_column": "Date", "target": "Close",
            "series_column": "Ticker", "series": "AAPL", "lookback": 10, "horizon": 2}
    config = write_config(tmp_path / "c.yaml", data=long, model={"hidden_size": 4}, training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "MSFT", "--levels", "80"])
    assert result.exit_code == 2 and "wrong volatility" in result.output
    assert runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "AAPL", "--levels", "80"]).exit_code == 0


def test_a_lone_dot_stays_a_missing_value_under_decimal_commas(tmp_path):
    from lstmcast.data.reading import load_series

    path = write_csv(tmp_path / "eu.csv", "Date;Close\n2024-01-02;1.234,5\n2024-01-03;.\n2024-01-04;7,25\n")
    series = load_series(path, date_column="Date", columns=["Close"], sep=";", decimal=",", missing="ffill")
    assert series.values["Close"].tolist() == [1234.5, 1234.5, 7.25]


@pytest.mark.parametrize("text", ["step,date,value\n", "step,date,value\n1,now,nan\n",
                                  "step,date,value\n1,2024-01-01,1e400\n",
                                  "step,date,v,upper_80,lower_80\n1,2024-01-01,3.5,1,2\n"])
def test_force_does_not_take_look_alikes_for_forecasts(runner, trained_runs, tmp_path, text):
    mine = write_csv(tmp_path / "mine.csv", text)
    result = runner.invoke(app, ["predict", str(trained_runs["seq2seq"]), "--out", str(mine), "--force"])
    assert result.exit_code == 6 and mine.read_text() == text


def test_predict_checks_every_output_path_before_writing_any(runner, trained_runs, tmp_path):
    run, new = trained_runs["seq2seq"], tmp_path / "new.csv"
    (tmp_path / "mine.png").write_text("not a plot")
    busy = runner.invoke(app, ["predict", str(run), "--out", str(new), "--plot", str(tmp_path / "mine.png")])
    assert busy.exit_code == 6 and not new.exists()
    for plot in ("-", str(tmp_path / "x.jpg"), str(new)):
        result = runner.invoke(app, ["predict", str(run), "--out", str(tmp_path / "a.csv"), "--plot", plot])
        assert result.exit_code == 2 and not (tmp_path / "a.csv").exists(), (plot, result.output)
    assert runner.invoke(app, ["config", "--set", "training.epochs=5"]).exit_code == 2
