"""A plain training loop over prebuilt window tensors. Reports through callbacks; never prints."""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from lstmcast import faults
from lstmcast.config import TrainingConfig
from lstmcast.errors import TrainingDiverged
from lstmcast.models import Seq2Seq

RUNAWAY_FACTOR = 1e4  # a training loss this many times the first epoch's is a divergence, not learning


@dataclass
class EpochReport:
    epoch: int  # 1-based
    train_loss: float
    validation_loss: float
    seconds: float
    improved: bool


@dataclass
class TrainingState:
    """Everything needed to continue training bitwise-identically after the last completed epoch."""

    epoch: int = 0  # completed epochs
    history: list[EpochReport] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_weights: dict[str, Tensor] = field(default_factory=dict)
    model_weights: dict[str, Tensor] = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    generator: Optional[Tensor] = None
    torch_rng: Optional[Tensor] = None
    stopped_early: bool = False


@dataclass
class Callbacks:
    on_batch: Callable[[int, int, int, float], None] = lambda epoch, batch, batches, loss: None
    on_epoch: Callable[[EpochReport], None] = lambda report: None
    on_checkpoint: Callable[[TrainingState], None] = lambda state: None
    should_stop: Callable[[], bool] = lambda: False


class StopRequested(Exception):
    """Raised inside the loop when should_stop() turns true; the last checkpoint stays valid."""


def loss_function(name: str) -> nn.Module:
    if name == "mse":
        return nn.MSELoss()
    if name == "mae":
        return nn.L1Loss()
    if name == "huber":
        return nn.HuberLoss()
    raise ValueError(f"unknown loss {name!r}")


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from lstmcast.errors import ConfigError

        raise ConfigError("training.device: cuda was asked for but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def forward(model: nn.Module, x: Tensor, target: Optional[Tensor] = None, *, teacher_forcing: float = 0.0,
            generator: Optional[torch.Generator] = None) -> Tensor:
    if isinstance(model, Seq2Seq):
        return model(x, target=target, teacher_forcing=teacher_forcing, generator=generator)[0]
    return model(x)[0]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, loss: nn.Module, *, batch_size: int, amp: str = "none") -> float:
    """Mean loss over all windows, in eval mode (no dropout, no teacher forcing)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with autocast(x.device, amp):
            total += float(loss(forward(model, xb).float(), yb)) * len(xb)
        count += len(xb)
    return total / max(count, 1)


def train(
    model: nn.Module,
    train_windows: tuple[Tensor, Tensor],
    validation_windows: tuple[Tensor, Tensor],
    config: TrainingConfig,
    *,
    teacher_forcing: float = 0.0,
    state: Optional[TrainingState] = None,
    callbacks: Callbacks = Callbacks(),
) -> TrainingState:
    """Train until `epochs` or early stopping; the returned state holds the best weights (lowest validation loss)."""
    x, y = train_windows
    device = x.device
    criterion = loss_function(config.loss)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16" and device.type == "cuda")
    state = state or TrainingState()
    if state.epoch:
        model.load_state_dict(state.model_weights)
        optimizer.load_state_dict(state.optimizer)
        generator.set_state(state.generator)
        torch.set_rng_state(state.torch_rng)
    n = len(x)
    batches = math.ceil(n / config.batch_size)
    first_loss = state.history[0].train_loss if state.history else None
    check_every = 1 if device.type == "cpu" else 25  # reading a CUDA loss forces a sync; batch the checks
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.stopped_early:
            break
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        running = torch.zeros((), device=device)
        for batch in range(batches):
            index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            xb, yb = x[index], y[index]
            with autocast(device, config.amp):
                prediction = forward(model, xb, yb, teacher_forcing=teacher_forcing, generator=generator)
                loss = criterion(prediction.float(), yb)
            if faults.hit("batch") == "nan":
                loss = loss * float("nan")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip > 0:
                scaler.unscale_(optimizer)
                norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            else:
                norm = None
            running += loss.detach() * len(index)
            if (batch + 1) % check_every == 0 or batch + 1 == batches:
                _check_finite(loss, None if scaler.is_enabled() else norm, epoch, batch + 1)
                callbacks.on_batch(epoch, batch + 1, batches, float(loss.detach()))
            scaler.step(optimizer)
            scaler.update()
            if callbacks.should_stop():
                raise StopRequested
        train_loss = float(running) / n
        if first_loss is None:
            first_loss = train_loss
        elif train_loss > RUNAWAY_FACTOR * max(first_loss, 1e-12):
            raise TrainingDiverged(
                f"epoch {epoch}: the training loss ran away ({train_loss:.3g}, {train_loss / first_loss:.0f}x the first "
                "epoch's); lower training.learning_rate or set training.grad_clip"
            )
        validation_loss = evaluate(model, *validation_windows, criterion, batch_size=config.batch_size * 4,
                                   amp=config.amp)
        if not math.isfinite(validation_loss):
            raise TrainingDiverged(f"epoch {epoch}: the validation loss is {validation_loss}; lower the learning rate")
        improved = validation_loss < state.best_loss
        if improved:
            state.best_loss, state.best_epoch, state.bad_epochs = validation_loss, epoch, 0
            state.best_weights = _snapshot(model)
        else:
            state.bad_epochs += 1
        report = EpochReport(epoch, train_loss, validation_loss, time.perf_counter() - started, improved)
        state.history.append(report)
        state.epoch = epoch
        state.stopped_early = config.patience > 0 and state.bad_epochs >= config.patience
        state.model_weights = _snapshot(model)
        state.optimizer = optimizer.state_dict()
        state.generator = generator.get_state()
        state.torch_rng = torch.get_rng_state()
        callbacks.on_epoch(report)
        callbacks.on_checkpoint(state)
        faults.hit("epoch-saved")
    model.load_state_dict(state.best_weights)
    return state


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _check_finite(loss: Tensor, norm: Optional[Tensor], epoch: int, batch: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"epoch {epoch}, batch {batch}: the loss became {float(loss.detach())}; lower training.learning_rate, "
            "keep training.grad_clip > 0, or check the data for extreme values"
        )
    if norm is not None and not torch.isfinite(norm):
        raise TrainingDiverged(
            f"epoch {epoch}, batch {batch}: the gradients became non-finite; lower training.learning_rate"
        )


def state_to_tensors(state: TrainingState) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Flatten a TrainingState into safetensors tensors plus JSON metadata (no pickle anywhere)."""
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


def state_from_tensors(tensors: dict[str, Tensor], metadata: dict[str, str]) -> TrainingState:
    meta = json.loads(metadata["training_state"])
    optimizer_state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optimizer_state.setdefault(int(index), {})[name] = value
    return TrainingState(
        epoch=meta["epoch"], best_loss=meta["best_loss"], best_epoch=meta["best_epoch"],
        bad_epochs=meta["bad_epochs"], stopped_early=meta["stopped_early"],
        history=[EpochReport(**row) for row in meta["history"]],
        model_weights={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        best_weights={k[5:]: v for k, v in tensors.items() if k.startswith("best.")},
        optimizer={"state": optimizer_state, "param_groups": meta["param_groups"]},
        generator=tensors["rng.generator"], torch_rng=tensors["rng.torch"],
    )
