"""A plain training loop over prebuilt window tensors. Reports through callbacks; never prints."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from lstmcast import faults
from lstmcast.config import TrainingConfig
from lstmcast.data.windows import WindowSet
from lstmcast.errors import ModelFileError, TrainingDiverged
from lstmcast.training.device import autocast

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


def _nothing(*args: object) -> None:
    return None


@dataclass
class Callbacks:
    """How the loop reports: each batch, each epoch, each saved state; and whether it should stop (a signal)."""

    on_batch: Callable[[int, int, int, float], None] = _nothing
    on_epoch: Callable[[EpochReport], None] = _nothing
    on_checkpoint: Callable[[TrainingState], None] = _nothing
    should_stop: Callable[[], int] = field(default=lambda: 0)  # the signal number asking to stop, or 0


class StopRequested(Exception):
    """Raised inside the loop when should_stop() names a signal (args[0]); the last checkpoint stays valid."""


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


@torch.no_grad()
def evaluate(model: nn.Module, windows: WindowSet, *, batch_size: int, amp: str = "none") -> float:
    """Mean loss (the head's own: mse, NLL, pinball...) over all windows, in eval mode (no dropout, no teacher
    forcing)."""
    model.eval()
    total, count = 0.0, 0
    for xb, yb in windows.slices(batch_size):
        with autocast(windows.device, amp):
            total += float(model.distribution.loss(model.emit(xb)[0].float(), yb)) * len(xb)
        count += len(xb)
    return total / max(count, 1)


def train(
    model: nn.Module,
    train_windows: WindowSet,
    validation_windows: Optional[WindowSet],
    config: TrainingConfig,
    *,
    teacher_forcing: float = 0.0,
    state: Optional[TrainingState] = None,
    callbacks: Optional[Callbacks] = None,
) -> TrainingState:
    """Train until `epochs` or early stopping; the returned state holds the best weights (lowest validation loss).
    Without validation windows (a final fit on all rows) every epoch counts as the best: the last weights are kept."""
    callbacks = callbacks or Callbacks()
    loop = _Loop(model, train_windows, config, teacher_forcing=teacher_forcing, callbacks=callbacks)
    state = state or TrainingState()
    if state.epoch:
        loop.restore(state)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.stopped_early:
            break
        started = time.perf_counter()
        train_loss = loop.epoch(epoch)
        first = state.history[0].train_loss if state.history else train_loss
        if train_loss - first > RUNAWAY_FACTOR * max(abs(first), 1e-12):  # a likelihood's loss may be negative
            raise TrainingDiverged(
                f"epoch {epoch}: the training loss ran away ({train_loss:.3g}, from {first:.3g} in the first "
                "epoch); lower training.learning_rate or set training.grad_clip"
            )
        validation_loss = _validate(model, validation_windows, config, epoch)
        report = EpochReport(epoch, train_loss, validation_loss, time.perf_counter() - started,
                             improved=validation_windows is None or validation_loss < state.best_loss)
        _record(state, report, model, config)
        loop.save(state)
        callbacks.on_epoch(report)
        callbacks.on_checkpoint(state)
        faults.hit("epoch-saved")
    model.load_state_dict(state.best_weights)
    return state


def _check_like(weights: dict[str, Tensor], model: nn.Module) -> None:
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    if {name: tuple(value.shape) for name, value in weights.items()} != expected:
        raise ValueError("the best weights have other names or shapes than the model's")


class _Loop:
    """One model's optimizer, gradient scaler and shuffling generator: the parts of the state that run the epochs."""

    def __init__(self, model: nn.Module, windows: WindowSet, config: TrainingConfig, *,
                 teacher_forcing: float, callbacks: Callbacks) -> None:
        self.model, self.windows, self.config = model, windows, config
        self.teacher_forcing, self.callbacks = teacher_forcing, callbacks
        self.device = windows.device
        self.optimizer = make_optimizer(model, config)
        self.generator = torch.Generator().manual_seed(config.seed)
        fp16 = config.amp == "fp16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)

    def restore(self, state: TrainingState) -> None:
        """Everything a checkpoint holds is checked against this model first: a damaged file would otherwise fail
        at the first optimizer step, or at the end of training."""
        try:
            _check_like(state.best_weights, self.model)
            self.model.load_state_dict(state.model_weights)
            self.optimizer.load_state_dict(state.optimizer)
            for group in self.optimizer.param_groups:
                for param in group["params"]:
                    slots = self.optimizer.state.get(param, {})
                    if any(name != "step" and value.shape != param.shape for name, value in slots.items()):
                        raise ValueError("optimizer state of another shape than its parameter")
            self.generator.set_state(state.generator)
            torch.set_rng_state(state.torch_rng)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ModelFileError(f"the checkpoint does not fit this model ({str(exc).splitlines()[0][:160]}); it is "
                                 "damaged: start over with --force") from None

    def save(self, state: TrainingState) -> None:
        state.model_weights = _snapshot(self.model)
        state.optimizer = self.optimizer.state_dict()
        state.generator = self.generator.get_state()
        state.torch_rng = torch.get_rng_state()

    def epoch(self, epoch: int) -> float:
        """One shuffled pass over the training windows; returns the mean training loss."""
        model, config, n = self.model, self.config, len(self.windows)
        batches = math.ceil(n / config.batch_size)
        check_every = 1 if self.device.type == "cpu" else 25  # reading a CUDA loss forces a sync; batch the checks
        model.train()
        order = torch.randperm(n, generator=self.generator).to(self.device)
        running = torch.zeros((), device=self.device)
        for batch in range(batches):
            index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            xb, yb = self.windows.batch(index)
            with autocast(self.device, config.amp):
                raw = model.emit(xb, target=yb, teacher_forcing=self.teacher_forcing, generator=self.generator)[0]
                loss = model.distribution.loss(raw.float(), yb)
            if faults.hit("batch") == "nan":
                loss = loss * float("nan")
            norm = self._backward(loss)
            running += loss.detach() * len(index)
            if (batch + 1) % check_every == 0 or batch + 1 == batches:
                _check_finite(loss, None if self.scaler.is_enabled() else norm, epoch, batch + 1)
                self.callbacks.on_batch(epoch, batch + 1, batches, float(loss.detach()))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if stop := self.callbacks.should_stop():
                raise StopRequested(stop)
        return float(running) / n

    def _backward(self, loss: Tensor) -> Optional[Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip <= 0:
            return None
        self.scaler.unscale_(self.optimizer)
        return nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)


def _validate(model: nn.Module, windows: Optional[WindowSet], config: TrainingConfig,
              epoch: int) -> float:
    """The validation loss; NaN when there is no validation split (a final fit on all rows)."""
    if windows is None:
        return math.nan
    loss = evaluate(model, windows, batch_size=config.batch_size * 4, amp=config.amp)
    if not math.isfinite(loss):
        raise TrainingDiverged(f"epoch {epoch}: the validation loss is {loss}; lower the learning rate")
    return loss


def _record(state: TrainingState, report: EpochReport, model: nn.Module, config: TrainingConfig) -> None:
    """Book-keeping after an epoch: the best weights so far, early stopping, the history."""
    if report.improved:
        state.best_loss, state.best_epoch, state.bad_epochs = report.validation_loss, report.epoch, 0
        state.best_weights = _snapshot(model)
    else:
        state.bad_epochs += 1
    state.history.append(report)
    state.epoch = report.epoch
    state.stopped_early = config.patience > 0 and state.bad_epochs >= config.patience


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
