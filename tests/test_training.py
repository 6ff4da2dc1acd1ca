from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lstmcast.config import ManyToOneConfig, Seq2SeqConfig, TrainingConfig
from lstmcast.data.windows import WindowSet
from lstmcast.errors import TrainingDiverged
from lstmcast.models.lstm import build_model
from lstmcast.training.checkpoint import state_from_tensors, state_to_tensors
from lstmcast.training.loop import TrainingState, train


def windows(n: int, seed: int = 0, *, hole: int | None = None) -> WindowSet:
    """n windows of 16 steps and 3 targets over a random walk; `hole` puts a NaN in that row."""
    g = torch.Generator().manual_seed(seed)
    series = torch.cumsum(torch.randn(n + 20, generator=g), 0) / 10
    if hole is not None:
        series[hole] = math.nan
    return WindowSet.over(series[:, None], np.arange(15, 15 + n), lookback=16, horizon=3)


def fit(kind="many_to_one", **training):
    torch.manual_seed(0)
    config = (ManyToOneConfig(kind="many_to_one", hidden_size=8, num_layers=2, dropout=0.3) if kind == "many_to_one"
              else Seq2SeqConfig(kind="seq2seq", hidden_size=8, num_layers=2, dropout=0.3, teacher_forcing=0.5))
    model = build_model(config, layout=1, horizon=3)
    settings = TrainingConfig(**{"epochs": 3, "batch_size": 32, "seed": 0, **training})
    state = train(model, windows(200), windows(60, seed=1), settings,
                  teacher_forcing=getattr(config, "teacher_forcing", 0.0))
    return model, state


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq"])
def test_same_seed_gives_bitwise_identical_weights(kind):
    first, _ = fit(kind)
    second, _ = fit(kind)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_early_stopping_keeps_the_best_weights():
    model, state = fit(epochs=30, patience=2, learning_rate=0.05)
    assert state.stopped_early and state.epoch < 30
    assert state.best_epoch == min(state.history, key=lambda r: r.validation_loss).epoch
    for name, value in model.state_dict().items():
        assert torch.equal(value, state.best_weights[name])


def test_training_reduces_the_loss():
    _, state = fit(epochs=8, learning_rate=0.01)
    assert state.history[-1].train_loss < state.history[0].train_loss


def test_a_non_finite_loss_stops_with_a_clear_error():
    with pytest.raises(TrainingDiverged, match="the loss became nan"):
        torch.manual_seed(0)
        model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=4, num_layers=1), layout=1, horizon=3)
        train(model, windows(64, hole=22), windows(20), TrainingConfig(epochs=1, batch_size=64))


def test_training_state_round_trips_through_tensors():
    _, state = fit(epochs=2)
    tensors, metadata = state_to_tensors(state)
    back = state_from_tensors(tensors, metadata, source="checkpoint")
    assert back.epoch == 2 and back.history == state.history and back.best_epoch == state.best_epoch
    assert torch.equal(back.generator, state.generator)
    assert back.optimizer["param_groups"] == json.loads(json.dumps(state.optimizer["param_groups"]))
    assert isinstance(back, TrainingState)


def test_bf16_autocast_trains_on_cpu():
    _, state = fit(amp="bf16", epochs=2)
    assert all(math.isfinite(r.train_loss) and math.isfinite(r.validation_loss) for r in state.history)


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the option is valid (tests/test_gpu.py)")
def test_cuda_without_a_gpu_is_a_clear_config_error(runner, tmp_path):
    from conftest import write_config
    from lstmcast.cli import app

    config = write_config(tmp_path / "c.yaml")
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device is available" in result.output


def test_fp16_on_the_cpu_is_refused_with_the_alternative(runner, tmp_path):
    from conftest import write_config
    from lstmcast.cli import app

    config = write_config(tmp_path / "c.yaml", training={"amp": "fp16", "device": "cpu"})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "fp16 needs a CUDA device" in result.output and "use bf16" in result.output
