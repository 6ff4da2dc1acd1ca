"""Saved encoder states for stateful forecasting (`predict --save-state`, `--from-state`): safetensors (no code can
hide in it) with h and c of every layer, the last row the state has read (scaled, and raw for the transforms), and
what ties the state to its run and its place in the series."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import atomic_output

FORMAT = "lstmcast-state"
FORMAT_VERSION = "1"
TENSORS = ("h", "c", "last_row", "last_raw")


@dataclass(frozen=True)
class SavedState:
    h: torch.Tensor  # [L, 1, P]
    c: torch.Tensor  # [L, 1, U]
    last_row: torch.Tensor  # [1, C] the last row read, as the model reads it (scaled, covariates included)
    last_raw: torch.Tensor  # [F] float64 that row's raw values (the anchor of the next row's transform)
    about: dict[str, Any]  # weights_sha256, last_date, stream_start, rows, columns, target


def is_state_file(path: Path) -> bool:
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == FORMAT
    except Exception:  # noqa: BLE001  anything unreadable is not ours
        return False


def write_state(path: Path, saved: SavedState, *, force: bool) -> None:
    from safetensors.torch import save_file

    tensors = {name: getattr(saved, name).detach().contiguous().cpu() for name in TENSORS}
    with atomic_output(path, force=force, what="a saved state", recognise=is_state_file,
                       suffix=path.suffix) as temp:
        save_file(tensors, str(temp), metadata={"format": FORMAT, "format_version": FORMAT_VERSION,
                                                "about": json.dumps(saved.about)})


def read_state(path: Path) -> SavedState:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ModelFileError(f"--from-state {path}: no such file (write one with predict --stream --save-state)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ModelFileError(f"--from-state {path}: not a state saved by lstmcast predict --save-state")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ModelFileError(f"--from-state {path}: state format {meta.get('format_version')}, this "
                                     f"lstmcast reads {FORMAT_VERSION}; save it again")
            tensors = {name: handle.get_tensor(name) for name in TENSORS}
        return SavedState(**tensors, about=json.loads(meta["about"]))
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"--from-state {path}: unreadable or damaged ({str(exc)[:200]}); save it again") from None
