"""State dump formats, written chunk by chunk (bounded memory) and read back without pickle.

npy: a folder of .npy files + meta.json (memory-mappable); npz: the same arrays in one zip + a `meta` string array;
parquet: a tidy per-step table (pyarrow); lstmvis: HDF5 states + lstm.yml for the LSTMVis viewer (h5py).
Every array's first axis is the window (1 in stream mode), so chunks are appended in order.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from lstmcast.errors import LstmcastError, ModelFileError

FORMATS = ("npz", "npy", "parquet", "lstmvis")
FORMAT_VERSION = 1
# LSTMVis needs a word per step: the scaled target input, binned (scaled units: standard deviations for `standard`).
WORD_EDGES = np.array([-2.0, -1.0, -0.25, 0.25, 1.0, 2.0])
WORDS = ("down3", "down2", "down1", "flat", "up1", "up2", "up3")


@dataclass
class Spec:
    shape: tuple[int, ...]
    dtype: str


def estimate_bytes(specs: dict[str, Spec], fmt: str) -> int:
    """Bytes on disk at the end, and for npz the scratch copy made while packing."""
    total = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in specs.values())
    return total * 2 if fmt == "npz" else total


class NpyWriter:
    """One .npy file per array: header with the final shape, then the chunks' bytes appended in order."""

    def __init__(self, folder: Path, specs: dict[str, Spec]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.specs, self.handles = folder, specs, {}
        for name, spec in specs.items():
            handle = open(folder / f"{name}.npy", "wb")
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(spec.dtype)), "fortran_order": False,
                      "shape": spec.shape}
            np.lib.format.write_array_header_2_0(handle, header)
            self.handles[name] = handle

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        for name, array in chunk.items():
            np.ascontiguousarray(array, dtype=self.specs[name].dtype).tofile(self.handles[name])

    def close(self, meta: dict[str, Any]) -> None:
        for name, handle in self.handles.items():
            expected = int(np.prod(self.specs[name].shape)) * np.dtype(self.specs[name].dtype).itemsize
            written = handle.tell() - _header_size(handle)
            handle.close()
            if written != expected:
                raise RuntimeError(f"{name}: wrote {written} bytes, expected {expected}")
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2))


def _header_size(handle) -> int:
    with open(handle.name, "rb") as reader:
        np.lib.format.read_magic(reader)
        np.lib.format.read_array_header_2_0(reader)
        return reader.tell()


class NpzWriter(NpyWriter):
    """npy files in a scratch folder, then stored (uncompressed, zip64) into one .npz; the folder is removed."""

    def __init__(self, path: Path, specs: dict[str, Spec]) -> None:
        self.path = path
        super().__init__(path.with_name(path.name + ".parts"), specs)

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


class ParquetWriter:
    """A tidy table, one row per (window, step), one row group per chunk of windows."""

    def __init__(self, path: Path, specs: dict[str, Spec], meta: dict[str, Any]) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise LstmcastError("--format parquet needs pyarrow: pip install 'lstmcast[parquet]'") from None
        self.path, self.meta, self.writer, self.window = path, meta, None, 0

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = tidy_rows(chunk, self.meta, first_window=self.window)
        self.window += len(chunk["prediction"])
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


def tidy_rows(chunk: dict[str, np.ndarray], meta: dict[str, Any], *, first_window: int):
    """Windows mode: lookback rows (inputs, states) then horizon rows (predictions, targets, decoder states).
    Stream mode: one row per step, with that step's forecasts as prediction_k columns."""
    import pandas as pd

    windows, steps = chunk["h"].shape[:2]
    layers = chunk["h"].shape[2]
    columns: dict[str, Any] = {}

    def state_columns(prefix: str, array: np.ndarray, rows: int) -> None:
        for layer in range(layers):
            for unit in range(array.shape[3]):
                columns[f"{prefix}_l{layer}_u{unit}"] = array[:, :, layer, unit].reshape(rows)

    lookback_rows = windows * steps
    columns["window"] = np.repeat(np.arange(first_window, first_window + windows), steps)
    columns["phase"] = np.full(lookback_rows, meta["mode"] == "stream" and "stream" or "lookback")
    columns["step"] = np.tile(np.arange(-steps + 1, 1), windows)
    columns["date"] = chunk["step_date"].reshape(lookback_rows)
    for index, name in enumerate(meta["columns"]):
        columns[f"input_{name}"] = chunk["inputs_raw"][:, :, index].reshape(lookback_rows)
        columns[f"scaled_{name}"] = chunk["inputs_scaled"][:, :, index].reshape(lookback_rows)
    names = ["h", "c"] + [f"gate_{g}" for g in "ifgo" if f"gate_{g}" in chunk]
    for name in names:
        state_columns(name, chunk[name], lookback_rows)
    if meta["mode"] == "stream":
        for k in range(chunk["prediction"].shape[-1]):
            columns[f"prediction_{k + 1}"] = chunk["prediction"][0, :, k]
            columns[f"target_{k + 1}"] = chunk["target"][0, :, k]
        return pd.DataFrame(columns)
    lookback = pd.DataFrame(columns)
    horizon = chunk["prediction"].shape[1]
    rows = windows * horizon
    ahead: dict[str, Any] = {
        "window": np.repeat(np.arange(first_window, first_window + windows), horizon),
        "phase": np.full(rows, "horizon"),
        "step": np.tile(np.arange(1, horizon + 1), windows),
        "date": chunk["target_date"].reshape(rows),
    }
    for name in ("prediction", "prediction_scaled", "target", "target_scaled"):
        ahead[name] = chunk[name].reshape(rows)
    columns = ahead
    for name in names:
        if f"decoder_{name}" in chunk:
            state_columns(name, chunk[f"decoder_{name}"], rows)
    return pd.concat([lookback, pd.DataFrame(columns)], ignore_index=True)


class LstmvisWriter:
    """LSTMVis layout: states.h5 (`states{l}` = c, `output{l}` = h, shape [total steps, units]), train.h5 (word ids),
    words.dict and lstm.yml. Steps are the lookback steps of every window (or the stream), concatenated."""

    def __init__(self, folder: Path, specs: dict[str, Spec], meta: dict[str, Any]) -> None:
        try:
            import h5py
        except ImportError:
            raise LstmcastError("--format lstmvis needs h5py: pip install 'lstmcast[lstmvis]'") from None
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.meta = folder, meta
        windows, steps, layers = specs["h"].shape[:3]
        total = windows * steps
        self.states = h5py.File(folder / "states.h5", "w")
        self.words = h5py.File(folder / "train.h5", "w")
        for layer in range(layers):
            self.states.create_dataset(f"output{layer + 1}", (total, specs["h"].shape[3]), dtype="float32")
            self.states.create_dataset(f"states{layer + 1}", (total, specs["c"].shape[3]), dtype="float32")
        self.words.create_dataset("word_ids", (total,), dtype="int32")
        self.position, self.layers = 0, layers

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        windows, steps = chunk["h"].shape[:2]
        rows = slice(self.position, self.position + windows * steps)
        for layer in range(self.layers):
            self.states[f"output{layer + 1}"][rows] = chunk["h"][:, :, layer].reshape(windows * steps, -1)
            self.states[f"states{layer + 1}"][rows] = chunk["c"][:, :, layer].reshape(windows * steps, -1)
        self.words["word_ids"][rows] = np.digitize(chunk["inputs_scaled"][:, :, 0].reshape(-1), WORD_EDGES) + 1
        self.position = rows.stop

    def close(self, meta: dict[str, Any]) -> None:
        self.states.close()
        self.words.close()
        (self.folder / "words.dict").write_text("".join(f"{word} {i + 1}\n" for i, word in enumerate(WORDS)))
        types = ",\n".join(
            f"    {{type: {kind}, layer: {layer + 1}, path: {kind == 'state' and 'states' or 'output'}{layer + 1}}}"
            for layer in range(self.layers) for kind in ("state", "output"))
        (self.folder / "lstm.yml").write_text(
            f"name: lstmcast {meta['model_kind']} {meta['target']}\n"
            f"description: LSTM states from lstmcast dump-states ({meta['mode']} mode); words bin the scaled "
            f"target input at each step\n"
            "files:\n  states: states.h5\n  train: train.h5\n  words: words.dict\n"
            "word_sequence:\n  file: train\n  path: word_ids\n  dict_file: words\n"
            f"states:\n  file: states\n  types: [\n{types}\n  ]\n")
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2))


def open_writer(fmt: str, path: Path, specs: dict[str, Spec], meta: dict[str, Any]):
    if fmt == "npy":
        return NpyWriter(path, specs)
    if fmt == "npz":
        return NpzWriter(path, specs)
    if fmt == "parquet":
        return ParquetWriter(path, specs, meta)
    if fmt == "lstmvis":
        return LstmvisWriter(path, specs, meta)
    raise ValueError(f"unknown format {fmt!r}")


@dataclass
class Dump:
    """A dump read back: arrays by name (memory-mapped for npy), its metadata, and the table for parquet."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    table: Optional[Any] = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def read(path: Path | str) -> Dump:
    """Open any lstmcast dump; never unpickles (allow_pickle=False throughout)."""
    path = Path(path)
    try:
        if path.is_dir() and (path / "lstm.yml").is_file():
            return _read_lstmvis(path)
        if path.is_dir():
            meta = json.loads((path / "meta.json").read_text())
            arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in sorted(path.glob("*.npy"))}
            return Dump(meta, arrays)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = json.loads(pq.read_metadata(path).metadata[b"lstmcast"])
            return Dump(meta, table=pq.read_table(path).to_pandas())
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
            return Dump(json.loads(str(archive["meta"])), arrays)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a readable lstmcast dump ({exc})") from None


def _read_lstmvis(path: Path) -> Dump:
    import h5py

    meta = json.loads((path / "meta.json").read_text())
    with h5py.File(path / "states.h5", "r") as states, h5py.File(path / "train.h5", "r") as words:
        arrays = {name: states[name][()] for name in states}
        arrays["word_ids"] = words["word_ids"][()]
    return Dump(meta, arrays)
