"""What a run directory holds, and how lstmcast recognises one it wrote (so --force replaces nothing else)."""

from __future__ import annotations

import json
from pathlib import Path

from lstmcast.files.atomic import marker_kind

FORMAT_VERSION = 2  # 2: meta.json records the SHA-256 of config.yaml and model.safetensors
READABLE_VERSIONS = (1, 2)
MODEL_FILE, CONFIG_FILE, META_FILE, HISTORY_FILE = "model.safetensors", "config.yaml", "meta.json", "history.csv"
CHECKPOINT_FILE = "checkpoint.safetensors"  # inside RUN.partial/: the state to resume from
PLOTS = ("loss.png", "test_forecast.png")
RUN_KIND, PARTIAL_KIND = "run", "run-partial"


def partial_dir(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".partial")


def is_run(path: Path) -> bool:
    """A finished run: marked by lstmcast, or (written by 0.1.0) a meta.json that lstmcast wrote beside weights."""
    if not path.is_dir():
        return False
    if marker_kind(path) == RUN_KIND:
        return True
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8")[: 1 << 20])
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "lstmcast_version" in meta and (path / MODEL_FILE).is_file()


def is_partial(path: Path) -> bool:
    """An unfinished run (RUN.partial): marked, or holding nothing but what `lstmcast train` writes there."""
    if not path.is_dir():
        return False
    if marker_kind(path) in (PARTIAL_KIND, RUN_KIND):
        return True
    known = {CONFIG_FILE, CHECKPOINT_FILE, MODEL_FILE, META_FILE, HISTORY_FILE, *PLOTS}
    return all(entry.name in known or entry.name.startswith(".") for entry in path.iterdir())
