"""The tidy table of a state dump (parquet): one row per step, states as one column per layer and unit.

Windows mode: each window's lookback rows (inputs, states, gates), then its horizon rows (predictions, targets, the
decoder's states and inputs, the head's input); every row carries its window's origin date. Stream mode: one row per
step of the series (with the forecast from that step's state also as prediction_k columns), then the horizon rows of
the forecast from every step, in the same layout as windows mode (window 0, origin date = the step's date)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

STATE_ARRAYS = ("h", "c", "gate_i", "gate_f", "gate_g", "gate_o")
PER_ORIGIN = ("prediction", "prediction_scaled", "target", "target_scaled", "target_date", "decoder_input",
              "head_input", *(f"decoder_{name}" for name in STATE_ARRAYS))


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
        "origin_date": chunk["step_date"][0] if stream else np.repeat(chunk["origin_date"], steps),
    }
    if "series" in chunk:  # a panel's dump: each row names its series
        ids = np.asarray(meta["series"])
        columns["series"] = ids[chunk["series"].reshape(-1)] if stream else np.repeat(ids[chunk["series"]], steps)
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
        origins = {name: chunk[name][0] for name in PER_ORIGIN if name in chunk}  # every step is an origin
        ahead = _horizon_rows(origins, np.zeros(steps, dtype=np.int64), chunk["step_date"][0])
        per_origin = columns.get("series")
    else:
        ahead = _horizon_rows(chunk, np.arange(start, start + windows), chunk["origin_date"])
        per_origin = np.asarray(meta["series"])[chunk["series"]] if "series" in chunk else None
    if per_origin is not None:
        ahead.insert(0, "series", np.repeat(per_origin, chunk["prediction"].shape[-1]))
    return pd.concat([pd.DataFrame(columns), ahead], ignore_index=True)


def _horizon_rows(arrays: dict[str, np.ndarray], window: np.ndarray, origin_date: np.ndarray) -> pd.DataFrame:
    """One row per origin and horizon step; arrays are per origin ([origins, horizon, ...])."""
    origins, horizon = arrays["prediction"].shape
    rows = origins * horizon
    columns: dict[str, Any] = {
        "window": np.repeat(window, horizon),
        "phase": np.full(rows, "horizon"),
        "step": np.tile(np.arange(1, horizon + 1), origins),
        "date": arrays["target_date"].reshape(rows),
        "origin_date": np.repeat(origin_date, horizon),
    }
    for name in ("prediction", "prediction_scaled", "target", "target_scaled", "decoder_input"):
        if name in arrays:
            columns[name] = arrays[name].reshape(rows)
    for name in STATE_ARRAYS:
        if f"decoder_{name}" in arrays:
            _units(columns, name, arrays[f"decoder_{name}"].reshape(rows, *arrays[f"decoder_{name}"].shape[2:]))
    head = arrays["head_input"]
    head = np.repeat(head, horizon, axis=0) if head.ndim == 2 else head.reshape(rows, -1)  # many_to_one: per origin
    for unit in range(head.shape[1]):
        columns[f"head_input_u{unit}"] = head[:, unit]
    return pd.DataFrame(columns)


def _units(columns: dict[str, Any], prefix: str, array: np.ndarray) -> None:
    """array [rows, L, U] -> columns prefix_l{layer}_u{unit}."""
    for layer in range(array.shape[1]):
        for unit in range(array.shape[2]):
            columns[f"{prefix}_l{layer}_u{unit}"] = array[:, layer, unit]
