"""The tidy table of a state dump (parquet): one row per window and step, states as one column per layer and unit.

Windows mode: each window's lookback rows (inputs, states, gates), then its horizon rows (predictions, targets, the
decoder's states and inputs, the head's input); every row carries its window's origin date. Stream mode: one row per
step of the series, with the forecast from that step's state as prediction_k columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

STATE_ARRAYS = ("h", "c", "gate_i", "gate_f", "gate_g", "gate_o")


def tidy_rows(chunk: dict[str, np.ndarray], meta: dict[str, Any], *, start: int) -> pd.DataFrame:
    """`start`: the index of the chunk's first window (windows mode) or first step (stream mode)."""
    stream = meta["mode"] == "stream"
    windows, steps = chunk["h"].shape[:2]
    rows = windows * steps
    columns: dict[str, Any] = {
        "window": np.zeros(rows, dtype=np.int64) if stream else np.repeat(np.arange(start, start + windows), steps),
        "phase": np.full(rows, "stream" if stream else "lookback"),
        "step": np.arange(start, start + steps) if stream else np.tile(np.arange(-steps + 1, 1), windows),
        "date": chunk["step_date"].reshape(rows),
    }
    if not stream:
        columns["origin_date"] = np.repeat(chunk["origin_date"], steps)
    for index, name in enumerate(meta["columns"]):
        columns[f"input_{name}"] = chunk["inputs_raw"][:, :, index].reshape(rows)
        columns[f"scaled_{name}"] = chunk["inputs_scaled"][:, :, index].reshape(rows)
    for name in STATE_ARRAYS:
        if name in chunk:
            _units(columns, name, chunk[name].reshape(rows, *chunk[name].shape[2:]))
    if stream:
        for k in range(chunk["prediction"].shape[-1]):
            columns[f"prediction_{k + 1}"] = chunk["prediction"][0, :, k]
            columns[f"target_{k + 1}"] = chunk["target"][0, :, k]
        return pd.DataFrame(columns)
    return pd.concat([pd.DataFrame(columns), _horizon_rows(chunk, start)], ignore_index=True)


def _horizon_rows(chunk: dict[str, np.ndarray], start: int) -> pd.DataFrame:
    windows, horizon = chunk["prediction"].shape
    rows = windows * horizon
    columns: dict[str, Any] = {
        "window": np.repeat(np.arange(start, start + windows), horizon),
        "phase": np.full(rows, "horizon"),
        "step": np.tile(np.arange(1, horizon + 1), windows),
        "date": chunk["target_date"].reshape(rows),
        "origin_date": np.repeat(chunk["origin_date"], horizon),
    }
    for name in ("prediction", "prediction_scaled", "target", "target_scaled", "decoder_input"):
        if name in chunk:
            columns[name] = chunk[name].reshape(rows)
    for name in STATE_ARRAYS:
        if f"decoder_{name}" in chunk:
            _units(columns, name, chunk[f"decoder_{name}"].reshape(rows, *chunk[f"decoder_{name}"].shape[2:]))
    head = chunk["head_input"]
    head = np.repeat(head, horizon, axis=0) if head.ndim == 2 else head.reshape(rows, -1)  # many_to_one: per window
    for unit in range(head.shape[1]):
        columns[f"head_input_u{unit}"] = head[:, unit]
    return pd.DataFrame(columns)


def _units(columns: dict[str, Any], prefix: str, array: np.ndarray) -> None:
    """array [rows, L, U] -> columns prefix_l{layer}_u{unit}."""
    for layer in range(array.shape[1]):
        for unit in range(array.shape[2]):
            columns[f"{prefix}_l{layer}_u{unit}"] = array[:, layer, unit]
