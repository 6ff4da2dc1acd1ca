"""Building a run directory: RUN.partial holds the config and the resumable checkpoint while training, then the
run's files, and is renamed into place in one step when complete."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterable

import torch

from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import promote, write_marker
from lstmcast.runs.layout import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    META_FILE,
    MODEL_FILE,
    PARTIAL_KIND,
    RUN_KIND,
    is_run,
)
from lstmcast.runs.meta import RunMeta, sealed
from lstmcast.runs.store import save_tensors

HISTORY_COLUMNS = ("epoch", "train_loss", "validation_loss", "seconds", "improved")


def start_partial(partial: Path, config_text: str) -> None:
    partial.mkdir(parents=True)
    write_marker(partial, PARTIAL_KIND)
    (partial / CONFIG_FILE).write_text(config_text, encoding="utf-8")


def save_config(partial: Path, text: str) -> str:
    (partial / CONFIG_FILE).write_text(text, encoding="utf-8")
    return text


def save_checkpoint(partial: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    save_tensors(partial / CHECKPOINT_FILE, tensors, metadata=metadata)


def save_weights(partial: Path, weights: dict[str, torch.Tensor]) -> str:
    """Write the model's weights; returns their file's SHA-256 for meta.json."""
    if not all(bool(v.isfinite().all()) for v in weights.values()):
        raise ModelFileError("the trained weights are not finite; nothing was saved (lower the learning rate)")
    save_tensors(partial / MODEL_FILE, weights)
    return hashlib.sha256((partial / MODEL_FILE).read_bytes()).hexdigest()


def write_meta(partial: Path, meta: RunMeta) -> None:
    (partial / META_FILE).write_text(json.dumps(sealed(meta), indent=2, allow_nan=False) + "\n")


def write_history(partial: Path, rows: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "improved": int(row["improved"])})
    (partial / HISTORY_FILE).write_text(buffer.getvalue())


def finish(partial: Path, out: Path, *, force: bool) -> None:
    """Mark the run complete and move it into place; the checkpoint (kept until then, so a failed rename can still
    be resumed) is not part of a finished run."""
    write_marker(partial, RUN_KIND)
    promote(partial, out, force=force, what="a run directory", recognise=is_run)
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
