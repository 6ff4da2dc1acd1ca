"""Reading a state dump back (any format), never unpickling and never trusting a header's size; and recognising
one, so --force replaces only dumps."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from lstmcast.errors import ModelFileError
from lstmcast.files.atomic import MARKER, marker_kind
from lstmcast.files.reading import holds_only, peek_json
from lstmcast.outputs.dumpfiles import DUMP_KIND

DUMP_DIR_FILES = frozenset({MARKER, "meta.json", "lstm.yml", "states.h5", "train.h5", "words.dict", "dates.h5",
                            "dates.dict", "series.h5", "series.dict", "annotations.h5"})

MAX_META_BYTES = 64 * 2**20


@dataclass
class Dump:
    """A dump read back: arrays by name (memory-mapped for npy), its metadata, and the table for parquet."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    table: Optional[Any] = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def read(path: Path | str) -> Dump:
    """Open any lstmcast dump; allow_pickle=False throughout, and every array's size checked against its file."""
    path = Path(path)
    if not (path.is_dir() or path.is_file()):
        raise ModelFileError(f"{path}: not a state dump (no such file or directory, or not a regular file)")
    try:
        if path.is_dir() and (path / "lstm.yml").is_file():
            return _read_lstmvis(path)
        if path.is_dir():
            arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in sorted(path.glob("*.npy"))}
            return Dump(_json(path / "meta.json"), arrays)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq  # optional: the `parquet` extra

            meta = json.loads(pq.read_metadata(path).metadata[b"lstmcast"])
            return Dump(meta, table=pq.read_table(path).to_pandas())
        return _read_npz(path)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, RecursionError) as exc:
        raise ModelFileError(f"{path}: not a readable lstmcast dump ({str(exc)[:200]})") from None


def _read_npz(path: Path) -> Dump:
    """Members must be stored (lstmcast never compresses them) and hold exactly what their npy header says, so a
    small crafted file cannot make numpy allocate gigabytes."""
    with zipfile.ZipFile(path) as archive:
        arrays, meta = {}, None
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError(f"member {info.filename[:60]!r} was not written by lstmcast")
            array = _member(archive, info)
            if info.filename == "meta.npy":
                meta = json.loads(str(array))
            else:
                arrays[info.filename[:-4]] = array
    if not isinstance(meta, dict):
        raise ValueError("no metadata")
    return Dump(meta, arrays)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        if dtype.hasobject or int(np.prod(shape)) * dtype.itemsize != info.file_size - member.tell():
            raise ValueError(f"member {info.filename[:60]!r}: its header does not match its size")
    with archive.open(info) as member:
        return np.load(member, allow_pickle=False)


def _npz_meta(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("meta.npy")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > MAX_META_BYTES:
            raise ValueError("meta.npy was not written by lstmcast")
        meta = json.loads(str(_member(archive, info)))
    if not isinstance(meta, dict):
        raise ValueError("no metadata")
    return meta


def _json(path: Path) -> dict[str, Any]:
    data = peek_json(path, limit=MAX_META_BYTES)
    if data is None:
        raise ValueError(f"{path.name} is missing, too large, not a regular file or not a JSON object")
    return data


def _read_lstmvis(path: Path) -> Dump:
    import h5py  # optional: the `lstmvis` extra

    meta = _json(path / "meta.json")
    with h5py.File(path / "states.h5", "r") as states, h5py.File(path / "train.h5", "r") as words:
        arrays = {name: states[name][()] for name in states}
        arrays["word_ids"] = words["word_ids"][()]
    if (path / "series.h5").is_file():
        with h5py.File(path / "series.h5", "r") as series:
            arrays["series_ids"] = series["series_ids"][()]
    return Dump(meta, arrays)


def is_dump(path: Path) -> bool:
    """Whether `path` is a state dump lstmcast wrote (any format, 0.1.0's included)."""
    if path.is_dir():
        if not holds_only(path, _dump_entry):
            return False
        if marker_kind(path) == DUMP_KIND:
            return True
        meta = peek_json(path / "meta.json", limit=MAX_META_BYTES)
        return meta is not None and meta.get("format") == "lstmcast-states"
    if not path.is_file():
        return False
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return b"lstmcast" in (pq.read_metadata(path).metadata or {})
        return _npz_meta(path).get("format") == "lstmcast-states"
    except (ImportError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, RecursionError):
        return False


def _dump_entry(name: str) -> bool:
    """The names a dump directory holds: npy arrays, its meta.json and marker, or LSTMVis's files."""
    return name.endswith(".npy") or name in DUMP_DIR_FILES
