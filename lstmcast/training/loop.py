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
from lstmcast.training.distributed import SINGLE, Ranks, Sync

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
    stop_early: Callable[[EpochReport], bool] = field(default=lambda report: False)  # e.g. a sweep's pruner


class StopRequested(Exception):
    """Raised inside the loop when should_stop() names a signal (args[0]); the last checkpoint stays valid."""


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


@torch.no_grad()
def evaluate(model: nn.Module, windows: WindowSet, *, batch_size: int, amp: str = "none",
             ranks: Ranks = SINGLE) -> float:
    """Mean loss (the head's own: mse, NLL, pinball...) over all windows, in eval mode (no dropout, no teacher
    forcing). On several ranks each scores a contiguous share and the sums are added."""
    model.eval()
    total, count = 0.0, 0
    for xb, yb in windows.slices(batch_size, within=ranks.chunk(len(windows))):
        with autocast(windows.device, amp):
            total += float(model.distribution.loss(model.emit(xb)[0].float(), yb)) * len(xb)
        count += len(xb)
    total, count = Sync(ranks, windows.device).sums(total, count)
    return total / max(count, 1)


class LossOf(nn.Module):
    """The training loss as a module's forward, so DistributedDataParallel can wrap it (models are called through
    `emit`, which DDP does not see)."""

    def __init__(self, model: nn.Module, teacher_forcing: float) -> None:
        super().__init__()
        self.model, self.teacher_forcing = model, teacher_forcing

    def forward(self, xb: Tensor, yb: Tensor, generator: torch.Generator) -> Tensor:
        raw = self.model.emit(xb, target=yb, teacher_forcing=self.teacher_forcing, generator=generator)[0]
        return self.model.distribution.loss(raw.float(), yb)


def train(
    model: nn.Module,
    train_windows: WindowSet,
    validation_windows: Optional[WindowSet],
    config: TrainingConfig,
    *,
    teacher_forcing: float = 0.0,
    state: Optional[TrainingState] = None,
    callbacks: Optional[Callbacks] = None,
    ranks: Ranks = SINGLE,
) -> TrainingState:
    """Train until `epochs` or early stopping; the returned state holds the best weights (lowest validation loss).
    Without validation windows (a final fit on all rows) every epoch counts as the best: the last weights are kept.
    On several ranks every rank calls this with the same windows and reaches the same state."""
    callbacks = callbacks or Callbacks()
    loop = _Loop(model, train_windows, config, teacher_forcing=teacher_forcing, callbacks=callbacks, ranks=ranks)
    state = state or TrainingState()
    if state.epoch:
        loop.restore(state)
    loop.own_dropout()
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
        validation_loss = _validate(model, validation_windows, config, epoch, ranks)
        report = EpochReport(epoch, train_loss, validation_loss, time.perf_counter() - started,
                             improved=validation_windows is None or validation_loss < state.best_loss)
        _record(state, report, model, config)
        state.stopped_early = state.stopped_early or callbacks.stop_early(report)
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
                 teacher_forcing: float, callbacks: Callbacks, ranks: Ranks) -> None:
        self.model, self.windows, self.config, self.callbacks = model, windows, config, callbacks
        self.device, self.ranks, self.sync = windows.device, ranks, Sync(ranks, windows.device)
        self.loss = self.sync.wrap(LossOf(model, teacher_forcing))
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

    def own_dropout(self) -> None:
        """Dropout draws from torch's global generator, seeded alike on every rank: give each rank its own stream,
        derived from the shared state (so a run stays reproducible); one process is left as it is."""
        if self.ranks.spread:
            torch.manual_seed(int(torch.randint(0, 2**62, (1,))) + self.ranks.rank)

    def save(self, state: TrainingState) -> None:
        state.model_weights = _snapshot(self.model)
        state.optimizer = self.optimizer.state_dict()
        state.generator = self.generator.get_state()
        state.torch_rng = torch.get_rng_state()

    def epoch(self, epoch: int) -> float:
        """One shuffled pass over the training windows; returns the mean training loss."""
        model, config, n = self.model, self.config, len(self.windows)
        batches = math.ceil(n / config.batch_size)
        # Checks read the loss (on CUDA a sync) and, on several ranks, cost an all-reduce: batch them there.
        check_every = (4 if self.ranks.spread else 1) if self.device.type == "cpu" else 25
        model.train()
        order = self.sync.same_order(torch.randperm(n, generator=self.generator).to(self.device))
        running = torch.zeros((), device=self.device)
        for batch in range(batches):
            index, counted, weight = self.ranks.shard(order[batch * config.batch_size : (batch + 1) * config.batch_size])
            xb, yb = self.windows.batch(index)
            with self.sync.guard("averaging the gradients"):  # DDP's all-reduce runs inside backward()
                with autocast(self.device, config.amp):
                    loss = self.loss(xb, yb, self.generator)
                if faults.hit("batch") == "nan":
                    loss = loss * float("nan")
                norm = self._backward(loss * weight)
            running += loss.detach() * counted
            stop = self.callbacks.should_stop()
            if (batch + 1) % check_every == 0 or batch + 1 == batches:
                stop = self._checked(loss, norm, stop, epoch, batch + 1)
                self.callbacks.on_batch(epoch, batch + 1, batches, float(loss.detach()))
            elif self.ranks.spread:
                stop = 0  # ranks stop together, at a batch where they agreed to
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if stop:
                raise StopRequested(stop)
        return self.sync.sums(float(running))[0] / n

    def _checked(self, loss: Tensor, norm: Optional[Tensor], stop: int, epoch: int, batch: int) -> int:
        """Raise if the loss or gradients went non-finite on any rank; the signal any rank was asked to stop by."""
        norm = None if self.scaler.is_enabled() else norm  # fp16's scaler skips steps with inf gradients itself
        diverged, stop = self.sync.agree(not _finite(loss, norm), stop)
        if diverged:
            _check_finite(loss, norm, epoch, batch)
            raise TrainingDiverged(f"epoch {epoch}, batch {batch}: the loss became non-finite on another rank; lower "
                                   "training.learning_rate or check the data for extreme values")
        return stop

    def _backward(self, loss: Tensor) -> Optional[Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip <= 0:
            return None
        self.scaler.unscale_(self.optimizer)
        return nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)


def _validate(model: nn.Module, windows: Optional[WindowSet], config: TrainingConfig,
              epoch: int, ranks: Ranks) -> float:
    """The validation loss; NaN when there is no validation split (a final fit on all rows)."""
    if windows is None:
        return math.nan
    loss = evaluate(model, windows, batch_size=config.batch_size * 4, amp=config.amp, ranks=ranks)
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


def _finite(loss: Tensor, norm: Optional[Tensor]) -> bool:
    return bool(torch.isfinite(loss)) and (norm is None or bool(torch.isfinite(norm)))


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
