"""Data-parallel training on CPU with gloo, through the real launchers (torchrun and `lstmcast train --nproc`): the
same weights as one process, a dead or stopped rank ends the job with a message, and any number of ranks resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lstmcast.training.distributed import Ranks, from_environment

from conftest import DATA, write_config
from test_reliability import _default_signals

CPI = {"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date", "target": "CPILFESL",
       "lookback": 12, "horizon": 4}
# 473 training windows in batches of 50: the last batch (23) splits 12 / 11, so the loss weights matter.
TRAINING = {"epochs": 4, "batch_size": 50, "patience": 0, "seed": 3, "threads": 1}
TOLERANCE = 1e-6  # measured: weights 6e-8, losses 1.5e-7 relative at most after 4 epochs (sums in another order)
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def run(command: list[str], *, fault: str = "", rank: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSTMCAST_FAULT")}
    env |= ({"LSTMCAST_FAULT": fault} if fault else {}) | ({"LSTMCAST_FAULT_RANK": rank} if rank else {})
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
                          preexec_fn=_default_signals)


def lstmcast(*args: str) -> list[str]:
    return [sys.executable, "-m", "lstmcast", *args]


def largest_difference(a: Path, b: Path) -> float:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert x.keys() == y.keys()
    return max(float((x[k] - y[k]).abs().max()) for k in x)


def history(run_dir: Path) -> list[list[float]]:
    rows = (run_dir / "history.csv").read_text().splitlines()[1:]
    return [[float(v) for i, v in enumerate(row.split(",")) if i in (1, 2)] for row in rows]


def one_process(kind: str, base: Path) -> tuple[Path, Path]:
    """A config and its run on one process. seq2seq draws teacher forcing from the shuffling generator."""
    model = {"kind": kind, "hidden_size": 8} | ({"teacher_forcing": 0.5} if kind == "seq2seq" else {})
    config = write_config(base / "c.yaml", data=CPI, model=model, training=TRAINING)
    result = run(lstmcast("train", str(config), "--out", str(base / "one")))
    assert result.returncode == 0, result.stderr
    return config, base / "one"


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, Path]:
    return one_process("many_to_one", tmp_path_factory.mktemp("single"))


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq"])
def test_two_ranks_reach_the_weights_of_one(kind, single, tmp_path):
    config, one = single if kind == "many_to_one" else one_process(kind, tmp_path)
    result = run(TORCHRUN + ["-m", "lstmcast", "train", str(config), "--out", str(tmp_path / "two")])
    assert result.returncode == 0, result.stderr
    assert largest_difference(one, tmp_path / "two") < TOLERANCE
    for a, b in zip(history(one), history(tmp_path / "two"), strict=True):
        assert a == pytest.approx(b, rel=TOLERANCE)
    assert json.loads((tmp_path / "two" / "meta.json").read_text())["ranks"] == 2
    assert result.stdout.count("run written") + result.stderr.count("run written") == 1  # rank 0 speaks alone


def test_a_killed_rank_ends_the_job_and_one_process_resumes_it(single, tmp_path):
    config, one = single
    out = tmp_path / "run"
    killed = run(lstmcast("train", str(config), "--out", str(out), "--nproc", "2", "--timeout", "30"),
                 fault="epoch-saved:kill:2", rank="1")
    assert killed.returncode == 8, killed.stderr
    assert "rank 1" in killed.stderr and "SIGKILL" in killed.stderr and f"--resume {out}" in killed.stderr
    assert "Traceback" not in killed.stderr and not out.exists()
    resumed = run(lstmcast("train", "--resume", str(out)))  # a 2-rank checkpoint, one process
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "after epoch 2" in resumed.stderr
    assert largest_difference(one, out) < TOLERANCE


def test_a_rank_killed_inside_a_batch_ends_the_others_with_a_message(single, tmp_path):
    config, _ = single  # rank 0 is then waiting in DDP's gradient all-reduce, inside backward()
    result = run(lstmcast("train", str(config), "--out", str(tmp_path / "run"), "--nproc", "2"),
                 fault="batch:kill:2", rank="1")
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr and "averaging the gradients failed" in result.stderr
    assert "no epoch was completed, so nothing is kept" in result.stderr and not (tmp_path / "run.partial").exists()


@pytest.mark.parametrize("fault, code, says", [("batch:sigint:20", 130, "continue with `lstmcast train --resume"),
                                                ("batch:nan:3", 5, "the loss became")])
def test_one_ranks_signal_or_divergence_stops_every_rank_together(single, tmp_path, fault, code, says):
    config, _ = single
    result = run(lstmcast("train", str(config), "--out", str(tmp_path / "run"), "--nproc", "2"), fault=fault, rank="1")
    assert result.returncode == code, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1  # rank 0 reports what every rank agreed on


def test_each_rank_takes_a_disjoint_share_weighted_to_the_global_mean():
    index = torch.arange(23)
    shares = [Ranks(rank, 3).shard(index) for rank in range(3)]
    assert sorted(torch.cat([share[0] for share in shares]).tolist()) == list(range(23))
    assert sum(counted for _, counted, _ in shares) == 23
    assert sum(weight for _, _, weight in shares) / 3 == pytest.approx(1.0)  # DDP's mean of the weights
    short = [Ranks(rank, 4).shard(torch.arange(2)) for rank in range(4)]
    assert [counted for _, counted, _ in short] == [1, 1, 0, 0] and short[3][2] == 0.0  # a stand-in, weight 0
    assert [len(Ranks(rank, 3).chunk(10)) for rank in range(3)] == [3, 3, 4]


def test_the_environment_names_the_rank(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert from_environment() == Ranks()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert from_environment() == Ranks(2, 4, 0)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(Exception, match="RANK 4 is not within WORLD_SIZE 4"):
        from_environment()


def test_nproc_under_torchrun_is_refused(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lstmcast.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    config = write_config(tmp_path / "c.yaml", data=CPI, training=TRAINING)
    result = CliRunner().invoke(app, ["train", str(config), "--nproc", "2"])
    assert result.exit_code == 2 and "under torchrun, leave --nproc out" in result.output
