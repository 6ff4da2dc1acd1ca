"""Saved encoder states for stateful forecasting (`predict --save-state`, `--from-state`): safetensors (no code can
hide in it) with h and c of every layer, the last row the state has read (scaled, and raw for the transforms), what
ties the state to its run and its place in the series, and the reference its drift flag is measured against.

A state file is checked whole when read (shapes, dtypes, finite values, dates): a damaged or edited file is refused
as such, never blamed on the CSV or turned into a forecast."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import atomic_output
from lstmcast.files.safetensorsheader import check_header

FORMAT = "lstmcast-state"
FORMAT_VERSION = "1"
TENSORS = ("h", "c", "last_row", "last_raw")
DRIFT = ("mean", "whitening", "training")  # stored as drift_mean, ...; absent when the stream had no training rows
ABOUT = {"weights_sha256": str, "last_date": str, "stream_start": str, "rows": int, "columns": list, "target": str}
AGAIN = "save it again with predict --stream --save-state"


@dataclass(frozen=True)
class SavedState:
    h: torch.Tensor  # [L, 1, P] float32
    c: torch.Tensor  # [L, 1, U] float32
    last_row: torch.Tensor  # [1, C] float32: the last row read, as the model reads it (scaled, covariates included)
    last_raw: torch.Tensor  # [F] float64: that row's raw values (the anchor of the next row's transform)
    about: dict[str, Any]  # ABOUT's keys, and `series` (the series column's value, or None)
    drift: dict[str, torch.Tensor] = field(default_factory=dict)  # DRIFT's float64 arrays (introspect.drift)

    @property
    def last_date(self) -> dt.date:
        return dt.date.fromisoformat(self.about["last_date"])

    @property
    def stream_start(self) -> dt.date:
        return dt.date.fromisoformat(self.about["stream_start"])


def is_state_file(path: Path) -> bool:
    try:
        from safetensors import safe_open

        check_header(path)
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == FORMAT
    except Exception:  # noqa: BLE001  anything unreadable is not ours
        return False


def write_state(path: Path, saved: SavedState, *, force: bool) -> None:
    from safetensors.torch import save_file

    tensors = {name: getattr(saved, name).detach().contiguous().cpu() for name in TENSORS}
    tensors |= {f"drift_{name}": value.detach().contiguous().cpu() for name, value in saved.drift.items()}
    with atomic_output(path, force=force, what="a saved state", recognise=is_state_file,
                       suffix=path.suffix) as temp:
        save_file(tensors, str(temp), metadata={"format": FORMAT, "format_version": FORMAT_VERSION,
                                                "about": json.dumps(saved.about)})


def read_state(path: Path) -> SavedState:
    from safetensors import SafetensorError, safe_open

    check_header(path, expected="a state saved by lstmcast predict --save-state", remedy=AGAIN,
                 missing=f"no such file ({AGAIN} first)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ModelFileError(f"{path}: not a state saved by lstmcast predict --save-state")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ModelFileError(f"{path}: state format {meta.get('format_version')}, this lstmcast reads "
                                     f"{FORMAT_VERSION}; {AGAIN}")
            names = set(handle.keys())
            tensors = {name: handle.get_tensor(name) for name in TENSORS}
            drift = {name: handle.get_tensor(f"drift_{name}") for name in DRIFT if f"drift_{name}" in names}
        about = json.loads(meta["about"])
    except (SafetensorError, OSError, ValueError, KeyError, RecursionError) as exc:
        raise ModelFileError(f"{path}: unreadable or damaged ({str(exc)[:200]}); {AGAIN}") from None
    saved = SavedState(**tensors, about=about, drift=drift)
    problem = _problem(saved)
    if problem:
        raise ModelFileError(f"{path}: damaged or edited ({problem}); {AGAIN}")
    return saved


def _problem(saved: SavedState) -> str:
    """What is wrong with a state as read, or "" (the run's own sizes are checked against it by the caller)."""
    if not isinstance(saved.about, dict):
        return "its description is not an object"
    for key, kind in ABOUT.items():
        if type(saved.about.get(key)) is not kind:
            return f"{key!r} missing or not a {kind.__name__}"
    if not isinstance(saved.about.get("series"), (str, type(None))):
        return "'series' is neither a name nor null"
    try:
        if saved.stream_start > saved.last_date:
            return f"the stream starts on {saved.stream_start}, after its last row {saved.last_date}"
    except ValueError:
        return "a date that is not YYYY-MM-DD"
    if saved.about["rows"] < 1:
        return f"{saved.about['rows']} rows read"
    shapes = {"h": 3, "c": 3, "last_row": 2, "last_raw": 1}
    for name, dims in shapes.items():
        value = getattr(saved, name)
        wanted = torch.float64 if name == "last_raw" else torch.float32
        if value.dim() != dims or value.dtype != wanted:
            return f"{name} is {value.dtype} of shape {tuple(value.shape)}, not {dims}-D {wanted}"
        if not torch.isfinite(value).all():
            return f"{name} holds non-finite values"
    if saved.h.shape[:2] != saved.c.shape[:2] or saved.h.shape[1] != 1 or saved.last_row.shape[0] != 1:
        return f"h {tuple(saved.h.shape)}, c {tuple(saved.c.shape)} and last_row {tuple(saved.last_row.shape)} disagree"
    if saved.drift and (set(saved.drift) != set(DRIFT) or not _reference_ok(saved.drift)):
        return "its drift reference is incomplete or not finite"
    return ""


def _reference_ok(drift: dict[str, torch.Tensor]) -> bool:
    mean, whitening, training = drift["mean"], drift["whitening"], drift["training"]
    return (all(value.dtype == torch.float64 and torch.isfinite(value).all() for value in drift.values())
            and mean.dim() == 1 and tuple(whitening.shape) == (len(mean), len(mean)) and training.dim() == 1
            and len(training) > 0 and bool((training >= 0).all()) and bool((training.diff() >= 0).all()))
