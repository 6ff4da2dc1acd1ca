"""Nothing lost, nothing executed: kills, signals, full disks, hostile files. Faults fire at fixed points
(LSTMCAST_FAULT, see lstmcast/faults.py) so no test depends on timing."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import load_file

from lstmcast.cli import app

from conftest import write_config

FAST = {"training": {"epochs": 4, "batch_size": 512, "patience": 0, "seed": 1, "threads": 1}}


def lstmcast(*args: str, fault: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTMCAST_FAULT"}
    if fault:
        env["LSTMCAST_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "lstmcast", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """A config and the run it gives when nothing interrupts it."""
    base = tmp_path_factory.mktemp("reference")
    config = write_config(base / "c.yaml", model={"kind": "seq2seq", "hidden_size": 8, "num_layers": 2,
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
    partial = tmp_path / "run.partial"
    leftovers = [p.name for p in partial.iterdir() if ".tmp-" in p.name]
    assert leftovers, "the half-written checkpoint stays under a temporary name"
    resumed = lstmcast("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "after epoch 2" in resumed.stderr and same_weights(run, uninterrupted)
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name], "leftovers are swept"


@pytest.mark.parametrize("fault, code, name", [("batch:sigint:30", 130, "SIGINT"), ("batch:sigterm:30", 143, "SIGTERM")])
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
    stopped = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:sigint2:30")
    assert stopped.returncode == 130
    assert load_file(tmp_path / "run.partial" / "checkpoint.safetensors")  # the saved state is complete


def test_interrupted_before_the_first_epoch_says_there_is_nothing_to_resume(reference, tmp_path):
    config, _ = reference
    stopped = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:sigint:2")
    assert stopped.returncode == 130 and "nothing to resume" in stopped.stderr


def test_non_finite_loss_exits_5_and_saves_no_model(reference, tmp_path):
    config, _ = reference
    result = lstmcast("train", str(config), "--out", str(tmp_path / "run"), fault="batch:nan:20")
    assert result.returncode == 5 and "the loss became nan" in result.stderr
    assert not (tmp_path / "run").exists()


def test_full_disk_keeps_the_previous_files(reference, runner, tmp_path):
    config, _ = reference
    run = tmp_path / "run"
    shutil.copytree(reference[1], run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    result = lstmcast("train", str(config), "--out", str(run), "--force", fault="before-rename:enospc:3")
    assert result.returncode == 6 and "the disk is full" in result.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    result = lstmcast("predict", str(run), "--out", str(tmp_path / "f.csv"), fault="before-rename:enospc")
    assert result.returncode == 6 and str(tmp_path / "f.csv") in result.stderr
    assert not (tmp_path / "f.csv").exists() and not list(tmp_path.glob(".f.csv*"))


def test_unwritable_output_paths_are_named(reference, runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    result = runner.invoke(app, ["predict", str(reference[1]), "--out", str(blocker / "sub" / "f.csv")])
    assert result.exit_code == 6 and f"{blocker} is a file, not a directory" in result.output
    result = runner.invoke(app, ["train", str(reference[0]), "--out", str(blocker / "run")])
    assert result.exit_code == 6


def hostile_files(tmp_path: Path, marker: Path) -> dict[str, bytes]:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pickled = pickle.dumps(Payload())
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as handle:  # the layout of a torch.save file
        handle.writestr("archive/data.pkl", pickled)
    return {
        "pickle renamed": pickled,
        "torch archive": archive.read_bytes(),
        "empty": b"",
        "truncated": b"\x20\x00\x00\x00\x00\x00\x00\x00{\"a\":",
        "git lfs pointer": b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
    }


@pytest.mark.parametrize("command", ["predict", "dump-states", "backtest"])
def test_crafted_model_files_are_refused_and_never_run(reference, runner, tmp_path, command):
    marker = tmp_path / "pwned"
    for label, content in hostile_files(tmp_path, marker).items():
        run = tmp_path / label.replace(" ", "_")
        shutil.copytree(reference[1], run)
        (run / "model.safetensors").write_bytes(content)
        args = [command, str(run)] + (["--out", str(tmp_path / f"{label}.out")] if command != "predict" else [])
        result = runner.invoke(app, args)
        assert result.exit_code == 4, (label, result.output)
        assert "model.safetensors" in result.output and "Traceback" not in result.output
        assert not marker.exists(), label
    assert "git lfs pull" in runner.invoke(app, ["predict", str(tmp_path / "git_lfs_pointer")]).output


def test_yaml_python_tags_run_nothing(runner, tmp_path):
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


def test_leftovers_of_killed_writers_are_swept(reference, runner, tmp_path):
    stale = tmp_path / ".f.csv.tmp-999999999-deadbeef"
    stale.write_text("half")
    result = runner.invoke(app, ["predict", str(reference[1]), "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 0 and not stale.exists() and (tmp_path / "f.csv").exists()


def test_safetensors_disk_full_is_translated_and_leaves_no_debris(reference, runner, tmp_path, monkeypatch):
    from safetensors import SafetensorError

    import lstmcast.persistence as persistence

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(persistence, "save_file", full)
    result = runner.invoke(app, ["train", str(reference[0]), "--out", str(tmp_path / "run")])
    assert result.exit_code == 6 and "the disk is full" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # no run, no RUN.partial without a checkpoint, no temporary files


def test_out_of_memory_exits_7(reference, runner, monkeypatch):
    import lstmcast.workflows as workflows

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(workflows, "predict_run", exhausted)
    result = runner.invoke(app, ["predict", str(reference[1])])
    assert result.exit_code == 7 and "out of memory" in result.output
