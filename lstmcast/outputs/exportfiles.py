"""An export directory: model.onnx, export.json (the graph's signature, how to read its numbers, the check against
the model) and lstmcast's marker, so --force replaces only an export lstmcast wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lstmcast.files.atomic import MARKER, marker_kind, write_marker
from lstmcast.files.reading import holds_only

EXPORT_KIND = "export"
EXPORT_FILES = frozenset({MARKER, "model.onnx", "export.json"})


def write_export_json(folder: Path, description: dict[str, Any]) -> None:
    (folder / "export.json").write_text(json.dumps(description, indent=2, allow_nan=False) + "\n")
    write_marker(folder, EXPORT_KIND)


def is_export(path: Path) -> bool:
    return path.is_dir() and holds_only(path, EXPORT_FILES.__contains__) and marker_kind(path) == EXPORT_KIND
