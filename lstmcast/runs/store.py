"""Weights and checkpoints in safetensors: a format that cannot carry code. Anything that is not a valid safetensors
header is refused before safetensors reads it (files.safetensorsheader)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from lstmcast import faults
from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import inside
from lstmcast.files.safetensorsheader import check_header

__all__ = ["check_header", "load_tensors", "load_weights", "save_tensors"]


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], *, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically (a temporary sibling renamed into place)."""
    with inside(path) as temp:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(temp), metadata=metadata)
        except SafetensorError as exc:  # safetensors reports I/O failures in its own type
            raise OSError(28 if "os error 28" in str(exc) else 5, str(exc)) from None
        faults.hit(f"wrote-{path.name}")


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file; anything else (pickle, torch zip, LFS pointer, truncated, FIFO) is refused unread."""
    check_header(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: not a valid safetensors file ({str(exc)[:200]}); retrain or copy the run "
                             "again") from None


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Model weights: floating point only (an integer or bool tensor would be cast silently into nonsense)."""
    weights, _ = load_tensors(path)
    odd = sorted({str(v.dtype).removeprefix("torch.") for v in weights.values() if not v.dtype.is_floating_point})
    if odd:
        raise ModelFileError(f"{path}: holds {', '.join(odd)} tensors; lstmcast writes floating-point weights only, so "
                             "the file was altered; retrain or copy the run again")
    return weights
