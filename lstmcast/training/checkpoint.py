"""A TrainingState as safetensors tensors plus JSON metadata (no pickle anywhere), and back, validated."""

from __future__ import annotations

import json
import math

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor

from lstmcast.errors import ModelFileError
from lstmcast.training.loop import EpochReport, TrainingState

REQUIRED = ("rng.generator", "rng.torch")


class _Epoch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(ge=1)
    train_loss: float
    validation_loss: float
    seconds: float = Field(ge=0)
    improved: bool


class _StateMeta(BaseModel):
    """The JSON half of a checkpoint: validated before anything is restored from it."""

    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(ge=1, le=100_000)
    best_loss: float
    best_epoch: int = Field(ge=1)
    bad_epochs: int = Field(ge=0)
    stopped_early: bool
    history: list[_Epoch] = Field(max_length=100_000)
    param_groups: list[dict]


def state_to_tensors(state: TrainingState) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Flatten a TrainingState into safetensors tensors plus JSON metadata."""
    tensors = {f"model.{k}": v for k, v in state.model_weights.items()}
    tensors |= {f"best.{k}": v for k, v in state.best_weights.items()}
    for index, slots in state.optimizer["state"].items():
        for name, value in slots.items():
            tensors[f"optimizer.{index}.{name}"] = value if isinstance(value, Tensor) else torch.tensor(value)
    tensors["rng.generator"], tensors["rng.torch"] = state.generator, state.torch_rng
    meta = {
        "epoch": state.epoch, "best_loss": state.best_loss, "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs, "stopped_early": state.stopped_early,
        "history": [vars(report) for report in state.history],
        "param_groups": state.optimizer["param_groups"],
    }
    return tensors, {"training_state": json.dumps(meta)}


def state_from_tensors(tensors: dict[str, Tensor], metadata: dict[str, str], *, source: str) -> TrainingState:
    """The TrainingState a checkpoint holds; a checkpoint that does not hold one is a ModelFileError."""
    try:
        meta = _StateMeta.model_validate_json(metadata.get("training_state", ""))
    except (ValidationError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source}: not a training checkpoint lstmcast can resume ({_first(exc)}); start over "
                             "with --force") from None
    missing = [key for key in REQUIRED if key not in tensors]
    if missing or not math.isfinite(meta.best_loss) or meta.best_epoch > meta.epoch:
        raise ModelFileError(f"{source}: an incomplete training checkpoint; start over with --force")
    optimizer_state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optimizer_state.setdefault(int(index), {})[name] = value
    return TrainingState(
        epoch=meta.epoch, best_loss=meta.best_loss, best_epoch=meta.best_epoch, bad_epochs=meta.bad_epochs,
        stopped_early=meta.stopped_early, history=[EpochReport(**row.model_dump()) for row in meta.history],
        model_weights={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        best_weights={k[5:]: v for k, v in tensors.items() if k.startswith("best.")},
        optimizer={"state": optimizer_state, "param_groups": meta.param_groups},
        generator=tensors["rng.generator"], torch_rng=tensors["rng.torch"],
    )


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"[:200]
    return type(exc).__name__
