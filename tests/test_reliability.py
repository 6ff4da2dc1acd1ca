"""Nothing lost, nothing executed: kills, signals, two writers, full disks, edits between runs. Faults fire at fixed
points (LSTMCAST_FAULT, see lstmcast/faults.py) so no test depends on timing. Runs train on the small CPI file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from lstmcast.cli import app

from conftest import DATA, edit_meta, write_config

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 4}
FAST = {"training": {"epochs": 4, "batch_size": 64, "patience": 0, "seed": 1, "threads": 1}}  # 8 batches an epoch


def lstmcast(*args: str, fault: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTMCAST_FAULT"}
    if fault:
        env["LSTMCAST_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "lstmcast", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, stdin=subprocess.DEVNULL, preexec_fn=_default_signals)


def _default_signals() -> None:
    """A shell without job control starts background jobs with SIGINT ignored, and the child would inherit that: the
    tests of what lstmcast does on SIGINT need it delivered, wherever the suite itself was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x)


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if "lstmcast-tmp-" in p.name or "lstmcast-old" in p.name]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """A config and the run it gives when nothing interrupts it."""
    base = tmp_path_factory.mktemp("reference")
    config = write_config(base / "c.yaml", data=CPI, model={"kind": "seq2seq", "hidden_size": 8, "num_layers": 2,
                                                             "dropout": 0.3}, **FAST)
    result = lstmcast("train", str(config), "--out", str(base / "run"))
    assert result.returncode == 0, result.stderr
    return config, base / "run"


def test_resume_after_kill_9_is_bitwise_identical(reference, tmp_path):
    config, uninterrupted = reference
    run = tmp_path / "run"
    killed = lstmcast("train", str(config), "--out", str(run), fault="epoch-saved:kill:2")
    assert killed.returncode == -9
    assert not run.exists() and (tmp_path / "run.partial" / "checkpoint.safetensors").is_file()
    resumed = lstmcast("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and same_weights(run, uninterrupted)
    assert not (tmp_path / "run.partial").exists() and not (run / "checkpoint.safetensors").exists()


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(reference, tmp_path):
    config, uninterrupted = reference
    run = tmp_path / "run"
    killed = lstmcast("train", str(config), "--out", str(run), fault="wrote-checkpoint.safetensors:kill:3")
    assert killed.returncode == -9
    assert temporaries(tmp_path / "run.partial"), "the half-written checkpoint stays under a temporary name"
    resumed = lstmcast("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "after epoch 2" in resumed.stderr and same_weights(run, uninterrupted)
    assert not temporaries(tmp_path), "leftovers are swept"


@pytest.mark.parametrize("fault, code, name", [("batch:sigint:20", 130, "SIGINT"), ("batch:sigterm:20", 143, "SIGTERM")])
def test_signals_stop_at_the_next_batch_save_and_say_how_to_resume(reference, tmp_path, fault, code, name):
    config, uninterrupted = reference
    run = tmp_path / "run"
    stopped = lstmcast("train", str(config), "--out", str(run), fault=fault)
    assert stopped.returncode == code, stopped.stderr
    assert f"stopped by {name}" in stopped.stderr and f"lstmcast train --resume {run}" in stopped.stderr
    assert "Traceback" not in stopped.stderr and not run.exists()
    resumed = lstmcast("train", "--resume", str(run))
    assert resumed.returncode == 0 and same_weights(run, uninterrupted)


def test_a_second_ctrl_c_exits_at_once_without_damage(reference, tmp_path):
    config, _ = reference
    stopped = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:sigint2:20")
    assert stopped.returncode == 130
    assert load_file(tmp_path / "run.partial" / "checkpoint.safetensors")  # the saved state is complete


def test_interrupted_before_the_first_epoch_says_there_is_nothing_to_resume(reference, tmp_path):
    config, _ = reference
    stopped = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:sigint:2")
    assert stopped.returncode == 130 and "nothing to resume" in stopped.stderr


def test_non_finite_loss_exits_5_and_saves_no_model(reference, tmp_path):
    config, _ = reference
    result = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:nan:12")
    assert result.returncode == 5 and "the loss became nan" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_second_writer_of_a_run_is_refused_naming_the_first(reference, runner, tmp_path):
    """Issue 11.2: `train --force` (or --resume) while another train writes the same run."""
    config, _ = reference
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "lstmcast", "train", str(config), "--out", str(run)],
                             env={**os.environ, "LSTMCAST_FAULT": "epoch-saved:sleep"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run.partial" / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for args in (["train", str(config), "--out", str(run), "--force"], ["train", "--resume", str(run)]):
            result = runner.invoke(app, args)
            assert result.exit_code == 6, result.output
            assert "is being written by another lstmcast" in result.output and f"pid {first.pid}" in result.output
        assert (tmp_path / "run.partial" / "checkpoint.safetensors").exists()  # the first writer's work is intact
    finally:
        first.kill()
        first.wait()


def test_a_kill_between_the_renames_of_force_loses_nothing(reference, tmp_path):
    """Issue 11.4: --force is all or nothing, even when killed between moving the old run aside and the new in."""
    config, uninterrupted = reference
    run = tmp_path / "run"
    shutil.copytree(uninterrupted, run)
    before = json.loads(lstmcast("predict", str(run), "--json").stdout)
    killed = lstmcast("train", str(config), "--out", str(run), "--force", "--set", "training.seed=5",
                      fault="between-renames:kill")
    assert killed.returncode == -9 and not run.exists()
    after = lstmcast("predict", str(run), "--json")  # a reader puts the previous run back
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == before and not temporaries(tmp_path)


def test_resume_refuses_a_training_csv_edited_since_the_start(tmp_path):
    """Issue 11.5."""
    csv = tmp_path / "cpi.csv"
    shutil.copy(DATA / "us_core_cpi_monthly.csv", csv)
    config = write_config(tmp_path / "c.yaml", data={**CPI, "path": str(csv)}, **FAST)
    assert lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="epoch-saved:kill:1").returncode == -9
    csv.write_text(csv.read_text().replace("259.481", "259.482"))
    resumed = lstmcast("train", "--resume", str(tmp_path / "run"))
    assert resumed.returncode == 3 and "changed since the run started" in resumed.stderr


def test_resume_refuses_other_settings_and_applies_more_epochs(reference, runner, tmp_path):
    config, _ = reference
    run = tmp_path / "run"
    assert lstmcast("train", str(config), "--out", str(run), fault="epoch-saved:kill:2").returncode == -9
    for extra in (["--set", "training.seed=3"], ["--data", str(DATA / "us_core_cpi_monthly.csv")],
                  ["--device", "cpu"], [str(config)]):
        refused = runner.invoke(app, ["train", "--resume", str(run), *extra])
        assert refused.exit_code == 2 and "--resume continues the run exactly as it started" in refused.output
    resumed = lstmcast("train", "--resume", str(run), "--epochs", "6")
    assert resumed.returncode == 0, resumed.stderr
    assert "training.epochs changed from 4 to 6" in resumed.stderr
    meta = json.loads((run / "meta.json").read_text())
    assert meta["epochs_run"] == 6 and "epochs: 6" in (run / "config.yaml").read_text()
    assert lstmcast("predict", str(run)).returncode == 0  # the config as run matches its recorded hash


def test_a_full_disk_says_how_to_continue_and_continuing_works(reference, tmp_path):
    config, uninterrupted = reference
    run = tmp_path / "run"
    full = lstmcast("train", str(config), "--out", str(run), fault="wrote-checkpoint.safetensors:enospc:3")
    assert full.returncode == 6 and "the disk is full" in full.stderr
    assert f"lstmcast train --resume {run}" in full.stderr
    resumed = lstmcast("train", "--resume", str(run))
    assert resumed.returncode == 0 and same_weights(run, uninterrupted)


def test_full_disk_keeps_the_previous_files(reference, tmp_path):
    config, _ = reference
    run = tmp_path / "run"
    shutil.copytree(reference[1], run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    result = lstmcast("train", str(config), "--out", str(run), "--force", fault="before-rename:enospc")
    assert result.returncode == 6 and "the disk is full" in result.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    result = lstmcast("predict", str(run), "--out", str(tmp_path / "f.csv"), fault="before-rename:enospc")
    assert result.returncode == 6 and str(tmp_path / "f.csv") in result.stderr
    assert not (tmp_path / "f.csv").exists() and not temporaries(tmp_path)


@pytest.mark.parametrize("signal_fault, code", [("sigint", 130), ("sigterm", 143)])
def test_dump_states_and_backtest_stop_cleanly_on_a_signal(reference, tmp_path, signal_fault, code):
    run = reference[1]
    out = tmp_path / "d.npz"
    stopped = lstmcast("dump-states", str(run), "--out", str(out), "--chunk-size", "100",
                       fault=f"dump-chunk:{signal_fault}:2")
    assert stopped.returncode == code, stopped.stderr
    assert "nothing was written" in stopped.stderr and "Traceback" not in stopped.stderr
    assert list(tmp_path.iterdir()) == []  # no dump, no scratch folder, no lock file
    stopped = lstmcast("backtest", str(reference[0]), "--refit", "every", "--origins", "3", "--out",
                       str(tmp_path / "report"), fault=f"backtest-fit:{signal_fault}")
    assert stopped.returncode == code and "nothing was written" in stopped.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_named_by_a_run_does_not_hang_any_command(reference, tmp_path):
    """Issue 11.7: meta.json names the training CSV; a run someone sends you may name a FIFO."""
    run = tmp_path / "run"
    shutil.copytree(reference[1], run)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    edit_meta(run, lambda meta: meta["data"].update(path=str(fifo)))
    for command in (["predict", str(run)], ["dump-states", str(run), "--out", str(tmp_path / "d.npz")],
                    ["backtest", str(run)]):
        started = time.monotonic()
        result = lstmcast(*command)
        assert result.returncode == 3 and "not a regular file (a FIFO)" in result.stderr, result.stderr
        assert time.monotonic() - started < 60
