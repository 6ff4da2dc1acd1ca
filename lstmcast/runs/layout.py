"""What a run directory holds, and how lstmcast recognises one it wrote (so --force replaces nothing else)."""

from __future__ import annotations

from pathlib import Path

from lstmcast.files.atomic import MARKER, marker_kind
from lstmcast.files.reading import MiB, holds_only, peek_json

FORMAT_VERSION = 4  # 2: meta.json records the SHA-256 of config.yaml and model.safetensors; 3: and of itself;
# 4: model.head and training.loss: null in config.yaml, conformal scale "pit" (an older lstmcast cannot read these)
PANEL_FORMAT_VERSION = 5  # a panel run (meta.json "panel"); single-series runs stay at 4, readable by lstmcast 0.4
READABLE_VERSIONS = (1, 2, 3, 4, 5)
MODEL_FILE, CONFIG_FILE, META_FILE, HISTORY_FILE = "model.safetensors", "config.yaml", "meta.json", "history.csv"
CHECKPOINT_FILE = "checkpoint.safetensors"  # inside RUN.partial/: the state to resume from
PLOTS = ("loss.png", "test_forecast.png", "skill.png")  # skill.png: panel runs
RUN_KIND, PARTIAL_KIND = "run", "run-partial"
RUN_FILES = frozenset({MARKER, CONFIG_FILE, CHECKPOINT_FILE, MODEL_FILE, META_FILE, HISTORY_FILE, *PLOTS})


def partial_dir(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".partial")


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the unfinished run beside `run_dir` completed an epoch (so `train --resume` can continue it)."""
    return (partial_dir(run_dir) / CHECKPOINT_FILE).is_file()


def is_run(path: Path) -> bool:
    """A finished run holding only lstmcast's files: marked by lstmcast, or (written by 0.1.0) a meta.json that
    lstmcast wrote beside weights."""
    if not path.is_dir() or not holds_only(path, RUN_FILES.__contains__):
        return False
    if marker_kind(path) == RUN_KIND:
        return True
    meta = peek_json(path / META_FILE, limit=MiB)
    return meta is not None and "lstmcast_version" in meta and (path / MODEL_FILE).is_file()


def is_partial(path: Path) -> bool:
    """An unfinished run (RUN.partial) holding nothing but what `lstmcast train` writes there."""
    return path.is_dir() and holds_only(path, RUN_FILES.__contains__)
