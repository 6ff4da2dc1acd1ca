"""Buffers lent to the chunks of one recording, each lent again only once nothing refers to it.

Every chunk fills buffers of the same shapes (h and c of every step, the gates), tens of MB each. A fresh one per
chunk costs the kernel a page fault and a zeroed page every 4 KiB: measured, a quarter of the gate time and a sixth
of the state time. Reusing one is safe only when no tensor or array still reads it, so each buffer is a numpy array
lent as a tensor over its memory: every tensor, view or `.numpy()` of it holds a reference to that array, and the
array's reference count says whether anything still uses it, with nothing asked of the caller. The memory is
torch's, wrapped: numpy's own large arrays ask the kernel for transparent huge pages, and where those are granted on
request (`madvise` mode) the first touch of each chunk's buffers stalls on compaction (with gates at 512 windows a
chunk, 3.55x the fused forward with them, 2.7x without)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import torch
from torch import Tensor


class Buffers:
    def __init__(self, limit: int = 16) -> None:
        self._kept: list[np.ndarray] = []
        self._limit = limit  # buffers beyond it are not kept (freed as usual once their chunk is dropped)
        self._lock = threading.Lock()  # chunks are recorded on worker threads
        probe = [np.empty(0)]
        self._unused = sys.getrefcount(probe[0])  # the count of an array only a list refers to, measured the same way

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """An uninitialised tensor of `shape`: a kept buffer nothing refers to any more, or a new one."""
        kind = torch.empty(0, dtype=dtype).numpy().dtype
        with self._lock:
            for index in range(len(self._kept)):
                if (self._kept[index].shape == shape and self._kept[index].dtype == kind
                        and sys.getrefcount(self._kept[index]) == self._unused):
                    return torch.from_numpy(self._kept[index])
            fresh = torch.empty(shape, dtype=dtype).numpy()  # torch's memory: see the module's note on huge pages
            if len(self._kept) < self._limit:
                self._kept.append(fresh)
            return torch.from_numpy(fresh)


def new_empty(buffers: "Buffers | None", shape: tuple[int, ...], like: Tensor) -> Tensor:
    """From `buffers` when given (and `like` is in CPU memory, where they live), else a fresh tensor like `like`."""
    if buffers is not None and like.device.type == "cpu":
        return buffers.empty(shape, like.dtype)
    return like.new_empty(shape)
