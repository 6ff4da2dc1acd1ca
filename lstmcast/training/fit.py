"""The one path from a config and prepared data to a fitted model: `train`, every backtest refit, and later sweeps
and distributed ranks call `fit`, so device choice, memory checks and seeding cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from lstmcast.config import RunConfig
from lstmcast.data.windows import Prepared
from lstmcast.errors import DataError
from lstmcast.models.inputs import InputLayout
from lstmcast.models.lstm import build_model
from lstmcast.training.device import check_memory, resolve_device, seed_and_threads
from lstmcast.training.distributed import SINGLE, Ranks
from lstmcast.training.loop import Callbacks, TrainingState, train


@dataclass
class Fitted:
    model: nn.Module  # the best weights (lowest validation loss), in eval mode
    state: TrainingState
    device: torch.device
    ranks: int = 1  # processes that trained it


def fit(config: RunConfig, prepared: Prepared, *, state: Optional[TrainingState] = None,
        callbacks: Optional[Callbacks] = None, ranks: Ranks = SINGLE) -> Fitted:
    """Train `config`'s model on the prepared training windows, early-stopping on the validation windows (on
    several ranks inside a process group: every rank calls this alike)."""
    device = _ready(config, prepared, ranks)
    windows = prepared.split_windows(("train", "validation"), device=str(device))
    empty = [split for split, found in windows.items() if len(found) == 0]
    if empty:
        raise DataError(f"the {' and '.join(empty)} split has no complete window of lookback {prepared.lookback} + "
                        f"horizon {prepared.horizon}; use a smaller lookback or horizon, or more data")
    model = _model(config, prepared, device)
    state = train(model, windows["train"], windows["validation"], config.training,
                  teacher_forcing=config.model.teacher_forcing, state=state, callbacks=callbacks, ranks=ranks)
    return Fitted(model.eval(), state, device, ranks.world)


def fit_all(config: RunConfig, prepared: Prepared, *, epochs: int, callbacks: Optional[Callbacks] = None,
            ranks: Ranks = SINGLE) -> Fitted:
    """The final fit: the same model, seed and settings on every row's windows (no validation, no test), for the
    `epochs` the evaluated training found best; the last weights are kept."""
    device = _ready(config, prepared, ranks)
    windows = prepared.split_windows(("train",), device=str(device))
    settings = config.training.model_copy(update={"epochs": epochs, "patience": 0})
    model = _model(config, prepared, device)
    state = train(model, windows["train"], None, settings, teacher_forcing=config.model.teacher_forcing,
                  callbacks=callbacks, ranks=ranks)
    return Fitted(model.eval(), state, device, ranks.world)


def _ready(config: RunConfig, prepared: Prepared, ranks: Ranks) -> torch.device:
    """Seed, threads, the memory check and the device: the same for every fit."""
    seed_and_threads(config.training)
    check_memory(config, InputLayout.of(config, prepared.categories).plain)
    return resolve_device(config.training, local_rank=ranks.local_rank if ranks.spread else None)


def _model(config: RunConfig, prepared: Prepared, device: torch.device) -> nn.Module:
    return build_model(config.model, layout=InputLayout.of(config, prepared.categories), horizon=prepared.horizon,
                       loss=config.training.loss).to(device)
