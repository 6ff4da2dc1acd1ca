"""The CUDA path: runs only where a GPU is present (CI and the project's machines have none)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstmcast.cli import app

from conftest import write_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_training_on_cuda_with_autocast_writes_a_cpu_readable_run(runner, tmp_path, amp):
    config = write_config(tmp_path / "c.yaml", model={"kind": "seq2seq", "hidden_size": 16},
                          training={"device": "cuda", "amp": amp, "epochs": 2})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["device"].startswith("cuda")
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json"])  # predict runs on the CPU
    assert result.exit_code == 0, result.output


def test_window_tensors_live_on_the_device():
    from lstmcast.data.windows import window_views

    x, y = window_views(torch.rand(100, 2, device="cuda"), np.arange(10, 90), lookback=8, horizon=3)
    assert x.is_cuda and y.is_cuda and x.shape == (80, 8, 2)
