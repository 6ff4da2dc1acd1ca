"""State dump formats, written chunk by chunk (bounded memory).

npy: a folder of .npy files + meta.json (memory-mappable); npz: the same arrays stored (uncompressed) in one zip + a
`meta` string array; parquet: a tidy per-step table (pyarrow); lstmvis: HDF5 states + lstm.yml for the LSTMVis
viewer (h5py; outputs.lstmvis). Every array's first axis is the window (1 in stream mode, whose chunks extend the step axis), so
chunks are appended in order."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcast.errors import ConfigError
from lstmcast.files.atomic import write_marker
from lstmcast.outputs.tidy import tidy_rows

FORMAT_VERSION = 1
DUMP_KIND = "states"


@dataclass
class Spec:
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def format_for(path: Path | None, fmt: str | None, *, size: int) -> str:
    """The format asked for, else the one the output's suffix names, else npz when small and npy otherwise."""
    by_suffix = {".npz": "npz", ".parquet": "parquet"}.get(path.suffix.lower()) if path else None
    if fmt and by_suffix and fmt != by_suffix:
        raise ConfigError(f"--format {fmt} does not match --out {path.name}; drop one of them")
    if path and re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,15}", path.suffix) and not by_suffix and \
            fmt in (None, "npz", "parquet"):  # x.npy, x.h5, x.tar.gz: another format's name ("states.01" is not)
        raise ConfigError(f"--out {path.name}: a dump file is .npz or .parquet (the folder formats, --format npy "
                          "or lstmvis, take any name); name it .npz or .parquet, or choose a folder format")
    return fmt or by_suffix or ("npz" if size < 512 * 2**20 else "npy")


def estimate_bytes(specs: dict[str, Spec], fmt: str) -> int:
    """Bytes on disk at the end (and for npz the scratch copy made while packing; for parquet the tidy table, one
    row per step with every column, about 8 bytes a cell whatever its type)."""
    total = sum(spec.nbytes for spec in specs.values())
    if fmt == "npz":
        return 2 * total
    if fmt == "parquet":  # rows: every step of every window, then every horizon step of every origin
        rows = int(np.prod(specs["h"].shape[:2])) + int(np.prod(specs["prediction"].shape))
        columns = sum(int(np.prod(spec.shape[2:])) if len(spec.shape) > 2 else 1 for spec in specs.values())
        return rows * columns * 8
    return total


class NpyWriter:
    """One .npy file per array: the header (numpy's, with the final shape) first, then chunks appended in order."""

    def __init__(self, folder: Path, specs: dict[str, Spec], meta: dict[str, Any] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.specs, self.handles = folder, specs, {}
        for name, spec in specs.items():
            path = folder / f"{name}.npy"
            header = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(spec.dtype), shape=spec.shape)
            offset = header.offset
            del header  # the file now has numpy's header and its final size; the data is written below, in order
            handle = open(path, "r+b")
            handle.seek(offset)
            self.handles[name] = (handle, offset)

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        for name, array in chunk.items():
            np.ascontiguousarray(array, dtype=self.specs[name].dtype).tofile(self.handles[name][0])

    def close(self, meta: dict[str, Any]) -> None:
        for name, (handle, offset) in self.handles.items():
            written = handle.tell() - offset
            handle.close()
            if written != self.specs[name].nbytes:
                raise RuntimeError(f"{name}: wrote {written} bytes, expected {self.specs[name].nbytes}")
        self.handles = {}
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2))
        write_marker(self.folder, DUMP_KIND)

    def discard(self) -> None:
        for handle, _ in self.handles.values():
            handle.close()


class NpzWriter(NpyWriter):
    """npy files in a scratch folder beside the output, then stored (uncompressed, zip64) into one .npz."""

    def __init__(self, path: Path, specs: dict[str, Spec], meta: dict[str, Any] | None = None) -> None:
        self.path = path
        super().__init__(Path(tempfile.mkdtemp(prefix=path.name + ".parts-", dir=path.parent)), specs)

    def close(self, meta: dict[str, Any]) -> None:
        super().close(meta)
        with zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name in self.specs:
                with open(self.folder / f"{name}.npy", "rb") as source, \
                        archive.open(f"{name}.npy", "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target, 1 << 24)
            with archive.open("meta.npy", "w") as target:
                np.save(target, np.array(json.dumps(meta)), allow_pickle=False)
        shutil.rmtree(self.folder)

    def discard(self) -> None:
        super().discard()
        shutil.rmtree(self.folder, ignore_errors=True)


class ParquetWriter:
    """A tidy table, one row per (window, step), one row group per chunk of windows; metadata in the footer."""

    def __init__(self, path: Path, specs: dict[str, Spec], meta: dict[str, Any]) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install 'lstmcast[parquet]'") from None
        self.path, self.meta, self.writer, self.start = path, meta, None, 0

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        import pyarrow as pa  # optional: the `parquet` extra
        import pyarrow.parquet as pq

        frame = tidy_rows(chunk, self.meta, start=self.start)
        self.start += chunk["h"].shape[1 if self.meta["mode"] == "stream" else 0]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self, meta: dict[str, Any]) -> None:
        """The metadata (with the self-check and timings, known only now) goes into the file footer."""
        if self.writer is None:
            raise RuntimeError("no rows were written")
        self.writer.add_key_value_metadata({"lstmcast": json.dumps(meta)})
        self.writer.close()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
