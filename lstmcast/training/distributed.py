"""Data-parallel training across the processes torchrun starts: which rank this is, its shard of every batch, and
the few collectives the loop needs, each ending in a clear message rather than a hang when another rank is gone.

One process is the same code with every collective an identity, so a run trained on N ranks and one trained on 1
differ only in the order floats are summed (DDP averages the gradients; each rank scales its loss so that the
average equals the mean over the global batch)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn

from lstmcast.errors import ConfigError, DistributedError

DEFAULT_TIMEOUT_S = 300  # a collective that waits longer than this for another rank ends the job


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def lead(self) -> bool:
        """The rank that writes the run directory and prints."""
        return self.rank == 0

    @property
    def spread(self) -> bool:
        return self.world > 1

    def shard(self, index: Tensor) -> tuple[Tensor, int, float]:
        """This rank's part of a global batch: (positions, how many count, loss weight). The weight makes DDP's mean
        over ranks equal the mean over the global batch; a rank left without a window in a short last batch takes a
        stand-in with weight 0, so every rank still joins the gradient average."""
        if not self.spread:
            return index, len(index), 1.0
        local = index[self.rank :: self.world]
        if len(local) == 0:
            return index[:1], 0, 0.0
        return local, len(local), len(local) * self.world / len(index)

    def chunk(self, count: int) -> range:
        """A contiguous, disjoint share of `count` items (for validation)."""
        return range(self.rank * count // self.world, (self.rank + 1) * count // self.world)


SINGLE = Ranks()


def from_environment() -> Ranks:
    """The ranks torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; one process when they are absent."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    values = [os.environ.get(name) for name in names]
    if values[1] is None:
        return SINGLE
    try:
        rank, world, local = (int(value if value is not None else 0) for value in values)
    except ValueError:
        raise ConfigError(f"torchrun's {', '.join(names)} are not integers ({values}); start lstmcast with torchrun "
                          "or without those variables") from None
    if not 0 <= rank < world or local < 0:
        raise ConfigError(f"RANK {rank} is not within WORLD_SIZE {world}")
    return Ranks(rank, world, local)


@contextlib.contextmanager
def joined(ranks: Ranks, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """The process group for the duration of a job, joined before anything else so that a rank failing at set-up
    ends the others at their first collective; gloo for CPU tensors, nccl for CUDA ones. Nothing on one process."""
    import torch.distributed as dist

    if not ranks.spread:
        yield
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    with collective("joining the other ranks", ranks):
        dist.init_process_group(backend, timeout=dt.timedelta(seconds=timeout_s))
    try:
        yield
        with collective("waiting for the other ranks to finish", ranks):
            dist.barrier()  # rank 0 still writes the run: a rank tearing the group down meanwhile can abort in gloo
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def collective(what: str, ranks: Ranks) -> Iterator[None]:
    """A failed or timed-out collective means another rank stopped (its own message says why) or stopped
    answering: say so, instead of a backend traceback."""
    try:
        yield
    except (RuntimeError, ValueError) as exc:
        if not _from_another_rank(exc):
            raise
        first = re.sub(r"\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", (str(exc).strip().splitlines() or [""])[0])
        first = first.split(". This is typically")[0][:160] or type(exc).__name__
        raise DistributedError(f"rank {ranks.rank} of {ranks.world}: {what} failed ({first}); another rank stopped "
                               "(its message says why) or stopped answering, so this rank stops too") from None


def _from_another_rank(exc: BaseException) -> bool:
    """A failure of the process group (a peer gone, a timeout), not of this rank's own computation (e.g. memory)."""
    import torch.distributed as dist

    text = str(exc)
    return isinstance(exc, dist.DistError) or any(mark in text for mark in ("gloo", "NCCL", "Connection", "timed out",
                                                                            "Timed out", "ProcessGroup"))


class Sync:
    """The collectives of one training job; identities on one process."""

    def __init__(self, ranks: Ranks, device: torch.device) -> None:
        self.ranks, self.device = ranks, device  # the collectives' tensors live where training does

    def guard(self, what: str) -> contextlib.AbstractContextManager:
        """collective() around work that communicates implicitly (DDP's backward); nothing on one process."""
        return collective(what, self.ranks) if self.ranks.spread else contextlib.nullcontext()

    def wrap(self, objective: nn.Module) -> nn.Module:
        """DDP around the loss module on several ranks, so the backward pass averages the gradients."""
        if not self.ranks.spread:
            return objective
        from torch.nn.parallel import DistributedDataParallel

        with collective("sharing the initial weights", self.ranks):
            return DistributedDataParallel(objective,
                                           device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def same_order(self, order: Tensor) -> Tensor:
        """Every rank shuffles alike from the same generator; rank 0's order is made binding anyway, so a rank whose
        generator drifted can never train on an overlapping shard."""
        if self.ranks.spread:
            import torch.distributed as dist

            with collective("sharing the epoch's order", self.ranks):
                dist.broadcast(order, src=0)
        return order

    def agree(self, diverged: bool, stop: int) -> tuple[bool, int]:
        """Whether any rank saw a non-finite loss, and the signal any rank was asked to stop by: every rank then
        raises the same error at the same batch, and none waits for a rank that left."""
        if not self.ranks.spread:
            return diverged, stop
        import torch.distributed as dist

        flags = torch.tensor([int(diverged), stop], dtype=torch.int64, device=self.device)
        with collective("checking the other ranks", self.ranks):
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), int(flags[1])

    def sums(self, *values: float) -> list[float]:
        """Sums over ranks (float64): the epoch's training loss and the validation loss over every shard."""
        if not self.ranks.spread:
            return list(values)
        import torch.distributed as dist

        total = torch.tensor(values, dtype=torch.float64, device=self.device)
        with collective("adding up the losses", self.ranks):
            dist.all_reduce(total)
        return total.tolist()
