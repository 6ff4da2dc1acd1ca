"""Where training runs: the device, autocast, threads and seed, and a memory check before anything is allocated."""

from __future__ import annotations

import contextlib
import os
from typing import Optional

import torch

from lstmcast.config import RunConfig, TrainingConfig
from lstmcast.errors import ConfigError


def resolve_device(config: TrainingConfig, *, local_rank: Optional[int] = None) -> torch.device:
    """The configured device; on several ranks of a CUDA machine, each rank's own GPU (torchrun's LOCAL_RANK)."""
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device: cuda was asked for but no CUDA device is available; use auto or cpu")
    if config.amp == "fp16" and name == "cpu":
        raise ConfigError("training.amp: fp16 needs a CUDA device (it relies on a gradient scaler there); on the CPU "
                          "use bf16 or none")
    if name == "cuda" and local_rank is not None:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local_rank} has no GPU of its own (this node has "
                              f"{torch.cuda.device_count()}); start at most that many processes per node")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_and_threads(config: TrainingConfig) -> None:
    """Same seed and thread count give bitwise-identical weights on CPU."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)


def check_memory(config: RunConfig, input_size: int) -> None:
    """Refuse absurd sizes before allocating: parameters, optimizer state and one batch's activations."""
    m, t = config.model, config.training
    units = m.proj_size or m.hidden_size
    per_layer = 4 * m.hidden_size * (max(input_size, units) + units + 2) + m.proj_size * m.hidden_size
    parameters = per_layer * m.num_layers * (2 if m.kind == "seq2seq" else 1)
    activations = t.batch_size * (config.data.lookback + config.data.horizon) * m.num_layers * 6 * m.hidden_size
    need = 4 * (4 * parameters + 3 * activations)  # float32; weights, grads, two Adam moments; forward + backward
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > available * 0.8:
        raise ConfigError(
            f"model.hidden_size {m.hidden_size}, num_layers {m.num_layers}, training.batch_size {t.batch_size} need "
            f"about {need / 2**30:.1f} GiB, more than this machine's {available / 2**30:.1f} GiB; make them smaller"
        )
