"""A sweep's results: one row per trial, best first, as leaderboard.csv, and the best trial's config as best.yaml
(the original config with the winning values, its data path made relative to the sweep, ready for `train`)."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from lstmcast.config.tune import trial_raw
from lstmcast.files.atomic import write_text

ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


@dataclass
class Row:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: Optional[float]  # the objective (None unless complete)
    params: dict[str, Any]
    best_epoch: Optional[int] = None
    epochs_run: Optional[int] = None
    seconds: Optional[float] = None
    run_dir: Optional[str] = None
    note: str = ""  # why it failed, or that it was retried
    error: Optional[str] = None  # the trial's own failure (not its process dying)

    def as_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "state": self.state, "value": self.value, **self.params,
                "best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "seconds": self.seconds,
                "run_dir": self.run_dir, "note": self.note}


def leaderboard(study: Any, keys: Optional[list[str]]) -> list[Row]:
    """Finished trials by value (lowest first), then pruned by their last value, then the rest."""
    rows = [row_of(trial, keys) for trial in study.get_trials(deepcopy=False)]
    return sorted(rows, key=lambda row: (ORDER.get(row.state, 5), _sortable(row.value), row.number))


def write_leaderboard(folder: Path, rows: list[Row], *, force: bool) -> Path:
    buffer = io.StringIO()
    table = [row.as_dict() for row in rows]
    columns = list(dict.fromkeys(key for line in table for key in line))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    write_text(folder / "leaderboard.csv", buffer.getvalue(), force=force, what="the leaderboard",
               recognise=lambda path: True)
    return folder / "leaderboard.csv"


def write_best(folder: Path, base: dict[str, Any], best: Row, data_path: Path, *, what: str) -> Path:
    """best.yaml: the base config (without its tune section) with the best trial's values, its data path (as the
    config resolved it) relative to the sweep."""
    raw = trial_raw(base, {"data.path": os.path.relpath(data_path, folder.resolve())} | best.params)
    header = (f"# The best of the sweep's trials by {what}: trial {best.number}, value {best.value:.6g}.\n"
              f"# Its run: {best.run_dir} (in this sweep). Train it with: lstmcast train THIS_FILE --out RUN\n")
    write_text(folder / "best.yaml", header + yaml.safe_dump(raw, sort_keys=False), force=True,
               what="the best config", recognise=lambda path: True)
    return folder / "best.yaml"


def row_of(trial: Any, keys: Optional[list[str]]) -> Row:
    """One trial's row (its values for `keys`, or all it has)."""
    attrs = trial.user_attrs
    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
        if trial.datetime_complete and trial.datetime_start else None
    note = attrs.get("error", "") or ("its process died; retried" if attrs.get("process_died") else "")
    if trial.state.name == "PRUNED" and trial.intermediate_values:  # its loss is not the objective's value
        epoch = max(trial.intermediate_values)
        note = f"pruned at epoch {epoch} (validation loss {trial.intermediate_values[epoch]:.5g})"
    if "retry_of" in attrs:
        note = (note + "; " if note else "") + f"retry of trial {attrs['retry_of']}"
    params = {key: trial.params.get(key) for key in keys} if keys else dict(trial.params)
    return Row(trial.number, trial.state.name, trial.value, params, attrs.get("best_epoch"), attrs.get("epochs_run"),
               seconds, attrs.get("run_dir"), note, attrs.get("error"))


def _sortable(value: Optional[float]) -> float:
    return value if value is not None and math.isfinite(value) else math.inf
