"""Hostile and unlucky inputs, end to end: each gives one clear message and a documented exit code (never 1 with a
traceback), and nothing the user owns is lost. The first reliability issue's files are here too."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmcast.cli import app

from conftest import DATA, edit_meta, write_config, write_csv

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 4}


def daily_csv(path: Path, rows: int = 120, *, start: str = "2020-01-01", extra: str = "") -> Path:
    dates = pd.bdate_range(start, periods=rows)
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, rows)))
    text = "Date,Close\n" + "".join(f"{d.date()},{p:.4f}\n" for d, p in zip(dates, prices)) + extra
    return write_csv(path, text)


def clean(result) -> None:
    assert result.exit_code in (2, 3, 4, 6, 7), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def hostile_files(tmp_path: Path, marker: Path) -> dict[str, bytes]:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pickled = pickle.dumps(Payload())
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as handle:  # the layout of a torch.save file
        handle.writestr("archive/data.pkl", pickled)
    return {"pickle renamed": pickled, "torch archive": archive.read_bytes(), "empty": b"",
            "truncated": b"\x20\x00\x00\x00\x00\x00\x00\x00{\"a\":",
            "git lfs pointer": b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"}


@pytest.mark.parametrize("command", ["predict", "dump-states", "backtest"])
def test_crafted_model_files_are_refused_and_never_run(runner, trained_runs, tmp_path, command):
    marker = tmp_path / "pwned"
    for label, content in hostile_files(tmp_path, marker).items():
        run = tmp_path / label.replace(" ", "_")
        shutil.copytree(trained_runs["seq2seq"], run)
        (run / "model.safetensors").write_bytes(content)
        args = [command, str(run)] + (["--out", str(tmp_path / f"{label}.out")] if command != "predict" else [])
        result = runner.invoke(app, args)
        assert result.exit_code == 4 and "model.safetensors" in result.output, (label, result.output)
        assert not marker.exists(), label
    assert "git lfs pull" in runner.invoke(app, ["predict", str(tmp_path / "git_lfs_pointer")]).output


def test_yaml_python_tags_and_aliases_run_nothing(runner, tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "c.yaml"
    config.write_text(f"data: !!python/object/apply:os.system ['touch {marker}']\nmodel: {{kind: many_to_one}}\n")
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2 and "c.yaml:1:7" in result.output and not marker.exists()
    config.write_text("a: &a [1, 1, 1]\nb: &b [*a, *a, *a]\n")
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2 and "aliases" in result.output


def test_absurd_sizes_are_refused_before_allocating(runner, tmp_path):
    config = write_config(tmp_path / "c.yaml", model={"hidden_size": 8192, "num_layers": 16},
                          training={"batch_size": 100000})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "GiB" in result.output and "make them smaller" in result.output


def test_unwritable_output_paths_are_named(runner, trained_runs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    result = runner.invoke(app, ["predict", str(trained_runs["seq2seq"]), "--out", str(blocker / "sub" / "f.csv")])
    assert result.exit_code == 6 and "is a file, not a directory" in result.output
    result = runner.invoke(app, ["train", str(write_config(tmp_path / "c.yaml", data=CPI)), "--out",
                                 str(blocker / "run")])
    assert result.exit_code == 6 and blocker.read_text() == "a regular file"


def test_force_replaces_only_outputs_lstmcast_wrote(runner, trained_runs, tmp_path):
    """Issue 11.4: a folder holding precious.csv, a plain file, the folder of the training CSV, the run being read."""
    config = write_config(tmp_path / "c.yaml", data=CPI, training={"epochs": 1})
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious.csv").write_text("precious")
    plain, bare = tmp_path / "plain.txt", tmp_path / "states"  # a dump must not be named .txt anyway: a bare name
    plain.write_text("precious")
    bare.write_text("precious")
    run = tmp_path / "run"
    shutil.copytree(trained_runs["seq2seq"], run)
    for command in (["train", str(config), "--out", str(keep)], ["train", str(config), "--out", str(plain)],
                    ["train", str(config), "--out", str(tmp_path)],
                    ["dump-states", str(run), "--out", str(run)], ["backtest", str(run), "--out", str(run)],
                    ["predict", str(run), "--out", str(keep / "precious.csv")],
                    ["dump-states", str(run), "--out", str(bare), "--format", "npz"]):
        result = runner.invoke(app, [*command, "--force"])
        assert result.exit_code == 6 and "--force will not replace it" in result.output, (command, result.output)
    assert (keep / "precious.csv").read_text() == "precious" and plain.read_text() == bare.read_text() == "precious"
    assert runner.invoke(app, ["predict", str(run)]).exit_code == 0  # the run being read is intact
    report = tmp_path / "report"
    for _ in range(2):  # its own outputs it does replace, as often as asked
        assert runner.invoke(app, ["backtest", str(run), "--origins", "5", "--out", str(report), "--force"]
                             ).exit_code == 0
    assert runner.invoke(app, ["train", str(config), "--out", str(run), "--force"]).exit_code == 0


@pytest.mark.parametrize("out", [".", ".."])
def test_training_into_the_working_directory_or_its_parent_is_refused_up_front(runner, tmp_path, monkeypatch, out):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = write_config(tmp_path / "c.yaml", data=CPI, training={"epochs": 1})
    for extra in ([], ["--force"]):
        result = runner.invoke(app, ["train", str(config), "--out", out, *extra])
        assert result.exit_code == 6, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "work"] and not list(work.iterdir())


@pytest.mark.parametrize("path, message", [("/proc/self/environ", "yields more bytes than its size says"),
                                           ("/dev/zero", "not a regular file (a character device)")])
def test_a_run_that_names_a_device_or_proc_file_leaks_nothing(runner, trained_runs, tmp_path, path, message):
    """Issue 11.7: the error quoted /proc/self/environ's first line; /dev/zero read until memory ran out."""
    run = tmp_path / "run"
    shutil.copytree(trained_runs["seq2seq"], run)
    edit_meta(run, lambda meta: meta["data"].update(path=path))
    os.environ["LSTMCAST_TEST_SECRET"] = "hunter2"
    try:
        result = runner.invoke(app, ["predict", str(run)])
    finally:
        del os.environ["LSTMCAST_TEST_SECRET"]
    assert result.exit_code == 3 and message in result.output and "hunter2" not in result.output


def test_terminal_escapes_and_huge_cells_reach_the_terminal_escaped_and_bounded(runner, tmp_path):
    """Issue 11.7: a column name with terminal escapes reached the terminal raw; one bad cell gave 52 MB of stderr."""
    escape = write_csv(tmp_path / "e.csv", "Date,\x1b[31mClose\x1b[0m\n2020-01-01,1\n")
    result = runner.invoke(app, ["train", str(write_config(tmp_path / "c.yaml", data={"path": str(escape)}))])
    assert result.exit_code == 3 and "\x1b" not in result.output and "\\x1b[31mClose" in result.output
    huge = daily_csv(tmp_path / "h.csv")
    lines = huge.read_text().splitlines()
    lines[5] = lines[5].split(",")[0] + ",9" + "x" * 5_000_000
    huge.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["train", str(write_config(tmp_path / "d.yaml", data={"path": str(huge)}))])
    assert result.exit_code == 3 and "line 6" in result.output and len(result.output) < 2000


@pytest.mark.parametrize("cell, where", [("1e302", "beyond ±1e15 on line(s) 51"), ('"' + "x" * 200_000 + '"', "line 51"),
                                         ("-5", "x.csv: column 'Close': transform log_return needs positive values, found zero or negative on 2020-03-10")])
def test_extreme_cells_are_refused_by_name(runner, tmp_path, cell, where):
    path = daily_csv(tmp_path / "x.csv", rows=200)
    lines = path.read_text().splitlines()
    lines[50] = lines[50].split(",")[0] + "," + cell
    path.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path / "c.yaml", data={"path": str(path), "lookback": 8, "horizon": 2})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 3 and where in result.output and len(result.output) < 2000, result.output
    clean(result)


def test_classic_mac_line_endings_are_read(runner, tmp_path):
    lf = daily_csv(tmp_path / "lf.csv", rows=200)
    cr = tmp_path / "cr.csv"
    cr.write_bytes(lf.read_bytes().replace(b"\n", b"\r"))
    outputs = []
    for path in (lf, cr):
        config = write_config(tmp_path / f"{path.stem}.yaml", data={"path": str(path), "lookback": 8, "horizon": 2},
                              training={"epochs": 1})
        result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / path.stem), "--json"])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout)["test_metrics"])
    assert outputs[0] == outputs[1]


def test_intraday_bars_are_refused_and_daily_stamps_accepted(runner, tmp_path):
    """Issue 11.9: minute bars were accepted and the time of day dropped."""
    times = pd.date_range("2020-01-02 09:30", periods=300, freq="min")
    bars = write_csv(tmp_path / "m.csv", "Date,Close\n" + "".join(f"{t},{100 + i % 7}\n" for i, t in enumerate(times)))
    result = runner.invoke(app, ["train", str(write_config(tmp_path / "c.yaml", data={"path": str(bars)}))])
    assert result.exit_code == 3 and "intraday timestamps (e.g. line 2: '2020-01-02 09:30:00')" in result.output
    days = pd.bdate_range("2020-01-02", periods=200)
    stamped = write_csv(tmp_path / "d.csv", "Date,Close\n" + "".join(f"{d.date()} 16:00:00,{100 + i % 7}\n"
                                                                    for i, d in enumerate(days)))
    config = write_config(tmp_path / "d.yaml", data={"path": str(stamped), "lookback": 8, "horizon": 2},
                          training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0 and "read as daily bars" in result.output, result.output


def test_predict_refuses_data_of_another_frequency_or_with_a_gap(runner, trained_runs, tmp_path):
    """Issue 11.10: monthly rows into a daily model, and a 21-month gap in the window, were accepted silently."""
    config = write_config(tmp_path / "c.yaml", data={"lookback": 16, "horizon": 3}, training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "daily")]).exit_code == 0
    monthly = pd.DataFrame({"Date": pd.date_range("2010-01-01", periods=40, freq="MS").strftime("%Y-%m-%d"),
                            "Close": np.linspace(50, 60, 40)})
    monthly.to_csv(tmp_path / "monthly.csv", index=False)
    result = runner.invoke(app, ["predict", str(tmp_path / "daily"), "--data", str(tmp_path / "monthly.csv")])
    assert result.exit_code == 3 and "spaced about 3" in result.output and "business days" in result.output
    cpi = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    gapped = pd.concat([cpi.iloc[:-30], cpi.iloc[-9:]])  # 21 months missing inside the last 12 rows
    gapped.to_csv(tmp_path / "gapped.csv", index=False)
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--data", str(tmp_path / "gapped.csv")])
    assert result.exit_code == 3 and "jump from" in result.output and "fill the gap" in result.output, result.output


def test_commands_that_read_a_model_take_set_for_the_csv_dialect(runner, trained_runs, tmp_path):
    """Errors say `set data.sep`: predict, dump-states and backtest take --set data.KEY=VALUE for how to read a CSV."""
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    european = tmp_path / "eu.csv"
    european.write_text(frame.to_csv(sep=";", index=False).replace(".", ","))
    run = trained_runs["many_to_one"]
    plain = json.loads(runner.invoke(app, ["predict", str(run), "--json"]).stdout)
    result = runner.invoke(app, ["predict", str(run), "--data", str(european), "--json"])
    assert result.exit_code == 3 and "set data.sep" in result.output
    result = runner.invoke(app, ["predict", str(run), "--data", str(european), "--json", "--set", "data.sep=;",
                                 "--set", "data.decimal=,"])  # bare text: `,` is no YAML, so it is taken as typed
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == plain
    for command in (["dump-states", str(run), "--out", str(tmp_path / "d.npz")], ["backtest", str(run)]):
        result = runner.invoke(app, [*command, "--data", str(european), "--set", "data.sep=;", "--set",
                                     "data.decimal=,"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", str(run), "--set", "data.lookback=3"])
    assert result.exit_code == 2 and "may set only how the CSV is read" in result.output


@pytest.mark.parametrize("args, code", [
    (["backtest", "RUN", "--refit", "²"], 2), (["backtest", "RUN", "--season", "1e20"], 2),
    (["backtest", "RUN", "--season", "100000000000000000000"], 2), (["backtest", "RUN", "--step", "1e20"], 2),
    (["backtest", "RUN", "--origins", "0"], 2), (["train", "CONFIG", "--set", "a.b.c.d.e.f=1"], 2),
    (["train", "CONFIG", "--set", "data.features.0=Close"], 2), (["train", "CONFIG", "--set", "=1"], 2),
    (["train", "CONFIG", "--set", "training.epochs=" + "[" * 50_000], 2),
    (["train", "CONFIG", "--set", "model=" + "{a: " * 2_000 + "1" + "}" * 2_000], 2),
    (["dump-states", "RUN", "--from", "2017-13-45"], 2), (["dump-states", "RUN", "--format", "pickle"], 2),
    (["predict", "RUN", "--horizon", "0"], 2),
])
def test_odd_options_are_usage_errors(runner, trained_runs, tmp_path, args, code):
    config = write_config(tmp_path / "c.yaml", data=CPI, training={"epochs": 1})
    args = [str(trained_runs["seq2seq"]) if a == "RUN" else str(config) if a == "CONFIG" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_a_torch_out_of_memory_exits_7(runner, trained_runs, monkeypatch):
    import torch

    def exhausted(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(torch.nn.LSTM, "forward", exhausted)
    result = runner.invoke(app, ["predict", str(trained_runs["seq2seq"])])
    assert result.exit_code == 7 and "out of memory" in result.output


def test_safetensors_disk_full_is_translated_and_leaves_no_debris(runner, tmp_path, monkeypatch):
    from safetensors import SafetensorError

    import lstmcast.runs.store as store

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(store, "save_file", full)
    config = write_config(tmp_path / "c.yaml", data=CPI, training={"epochs": 1})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "out" / "run")])
    assert result.exit_code == 6 and "the disk is full" in result.output and "Traceback" not in result.output
    assert list((tmp_path / "out").iterdir()) == []  # no run, no RUN.partial without a checkpoint, no temporaries
