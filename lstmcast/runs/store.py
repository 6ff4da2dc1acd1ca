"""Weights and checkpoints in safetensors: a format that cannot carry code. Files are identified by parsing their
header (8-byte little-endian length, then a JSON object), never by a magic byte: a valid header whose length starts
with 0x80 is still safetensors, and anything that is not a valid header is refused before safetensors reads it."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from lstmcast import faults
from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import inside

MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header


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


def check_header(path: Path) -> None:
    """Refuse, with a message saying what the file is, anything that is not a regular file with a valid header."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; is this a run directory written by `lstmcast train`?") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: not a regular file; expected safetensors weights written by `lstmcast train`")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            valid = 2 <= length <= min(MAX_HEADER, info.st_size - 8)
            header = handle.read(length) if valid else b""
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    if not (valid and _json_object(header)):
        raise ModelFileError(_what_it_is(path, head, info.st_size))


def _json_object(header: bytes) -> bool:
    try:
        return isinstance(json.loads(header), dict)
    except (ValueError, RecursionError):
        return False


def _what_it_is(path: Path, head: bytes, size: int) -> str:
    if size == 0:
        return f"{path}: the file is empty; retrain or copy the run again"
    if head.startswith(b"version "):
        return f"{path}: a Git LFS pointer, not the weights; run `git lfs pull` to fetch the file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head.startswith(b"PK\x03\x04"):
        return (f"{path}: a pickle or torch archive, which lstmcast never loads (it can run code); only safetensors "
                "weights written by `lstmcast train` are accepted")
    return f"{path}: not a valid safetensors file (truncated or corrupt); retrain or copy the run again"
