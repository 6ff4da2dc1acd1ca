"""Transforms, scalers, chronological splits and windows, with statistics from the training rows only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig, SplitConfig
from lstmcast.data import Series
from lstmcast.errors import DataError

if TYPE_CHECKING:
    import torch

LAGGED = frozenset({"log_return", "pct_change", "diff"})  # transforms that consume the first row


def rows_consumed(data: DataConfig) -> int:
    """Rows a config's transforms consume at the start of a series (1 when any column takes a lagged difference)."""
    kinds = [data.transform] + ([data.feature_transform] if data.features else [])
    return 1 if any(kind in LAGGED for kind in kinds) else 0


def apply_transform(raw: np.ndarray, kind: str, *, column: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """Transform one column; lagged transforms return NaN in row 0 (there is no previous value)."""
    if kind in {"log", "log_return"} and (raw <= 0).any():
        _refuse_nonpositive(raw <= 0, kind, column, dates)
    if kind == "pct_change" and (raw[:-1] == 0).any():
        _refuse_nonpositive(np.r_[raw[:-1] == 0, False], kind, column, dates)
    if kind == "none":
        return raw.copy()
    if kind == "log":
        return np.log(raw)
    out = np.full_like(raw, np.nan)
    if kind == "log_return":
        out[1:] = np.diff(np.log(raw))
    elif kind == "pct_change":
        out[1:] = raw[1:] / raw[:-1] - 1.0
    elif kind == "diff":
        out[1:] = np.diff(raw)
    else:
        raise ValueError(f"unknown transform {kind!r}")
    return out


def _refuse_nonpositive(mask: np.ndarray, kind: str, column: str, dates: pd.DatetimeIndex) -> None:
    where = dates[mask]
    shown = ", ".join(str(d.date()) for d in where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
    raise DataError(
        f"column {column!r}: transform {kind} needs positive values, found zero or negative on {shown}; "
        "use transform: diff or none for this column, or clean those rows"
    )


def invert_target(scaled: np.ndarray, anchor: np.ndarray, *, kind: str, center: float, scale: float) -> np.ndarray:
    """Scaled target predictions [W, H] plus the last observed value [W] -> values in the user's units [W, H]."""
    y = scaled * scale + center
    anchor = anchor[:, None]
    if kind == "none":
        return y
    if kind == "log":
        return np.exp(y)
    if kind == "log_return":
        return anchor * np.exp(np.cumsum(y, axis=1))
    if kind == "pct_change":
        return anchor * np.cumprod(1.0 + y, axis=1)
    if kind == "diff":
        return anchor + np.cumsum(y, axis=1)
    raise ValueError(f"unknown transform {kind!r}")


@dataclass(frozen=True)
class Scaler:
    """Per-column affine map (x - center) / scale; plain numbers, so a run directory stores it as JSON."""

    kind: str
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str, train: np.ndarray, *, columns: list[str]) -> "Scaler":
        if kind == "none":
            return cls(kind, np.zeros(train.shape[1]), np.ones(train.shape[1]))
        if kind == "standard":
            center, scale = train.mean(axis=0), train.std(axis=0)
        elif kind == "minmax":
            center, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
        elif kind == "robust":
            q1, median, q3 = np.percentile(train, [25, 50, 75], axis=0)
            center, scale = median, q3 - q1
        else:
            raise ValueError(f"unknown scaler {kind!r}")
        flat = [columns[i] for i in np.flatnonzero(~(scale > 1e-12 * np.maximum(1.0, np.abs(center))))]
        if flat:
            raise DataError(
                f"column(s) {', '.join(map(repr, flat))} are constant over the training rows after the transform, "
                f"so the {kind} scaler would divide by zero; remove them from data.features"
            )
        return cls(kind, center, scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center) / self.scale

    def to_json(self) -> dict:
        return {"kind": self.kind, "center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "Scaler":
        return cls(data["kind"], np.asarray(data["center"], dtype="float64"), np.asarray(data["scale"], dtype="float64"))


@dataclass(frozen=True)
class Prepared:
    """A series after transform and scaling. Row r of every array is the same date; split ends are row indices."""

    dates: pd.DatetimeIndex  # [M]
    raw: np.ndarray  # [M, F] the user's values, aligned with the transformed rows
    scaled: np.ndarray  # [M, F] float32 model inputs; column 0 is the target
    columns: list[str]
    transforms: list[str]
    scaler: Scaler
    lookback: int
    horizon: int
    train_end: int  # rows [0, train_end) are training rows
    validation_end: int  # rows [train_end, validation_end) validate; the rest test

    def origins(self, split: str) -> np.ndarray:
        """Row index of each window's last input step. A window belongs to the split of its last target row."""
        first, last = self.lookback - 1, len(self.dates) - 1 - self.horizon
        bounds = {"train": (0, self.train_end), "validation": (self.train_end, self.validation_end),
                  "test": (self.validation_end, len(self.dates)), "all": (0, len(self.dates))}[split]
        lo = max(first, bounds[0] - self.horizon)
        hi = min(last, bounds[1] - 1 - self.horizon)
        return np.arange(lo, hi + 1)

    def windows(self, origins: np.ndarray, *, device: str = "cpu") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Inputs [W, lookback, F] and targets [W, horizon] for contiguous origins, as views (no per-window copy)."""
        return make_windows(self.scaled, origins, lookback=self.lookback, horizon=self.horizon, device=device)

    def split_windows(self, splits: tuple[str, ...], *, device: str = "cpu") -> dict[str, tuple]:
        """`windows` for several splits, all views into one copy of the data on `device`."""
        import torch

        values = torch.from_numpy(np.ascontiguousarray(self.scaled, dtype=np.float32)).to(device)
        return {split: window_views(values, self.origins(split), lookback=self.lookback, horizon=self.horizon)
                for split in splits}


def make_windows(
    scaled: np.ndarray, origins: np.ndarray, *, lookback: int, horizon: int, device: str = "cpu"
) -> tuple["torch.Tensor", "torch.Tensor"]:
    import torch

    values = torch.from_numpy(np.ascontiguousarray(scaled, dtype=np.float32)).to(device)
    return window_views(values, origins, lookback=lookback, horizon=horizon)


def window_views(values: "torch.Tensor", origins: np.ndarray, *, lookback: int, horizon: int) -> tuple:
    """Windows ending at contiguous `origins` of values [M, F]: inputs [W, lookback, F] and targets [W, horizon]."""
    if len(origins) == 0:
        return values.new_zeros((0, lookback, values.shape[1])), values.new_zeros((0, horizon))
    start, stop = int(origins[0]), int(origins[-1]) + 1
    assert stop - start == len(origins), "origins must be contiguous"
    x = values.unfold(0, lookback, 1).transpose(1, 2)  # [M - lookback + 1, lookback, F], a view
    targets = values[:, 0].unfold(0, horizon, 1) if len(values) > horizon else values.new_zeros((0, horizon))
    return x[start - lookback + 1 : stop - lookback + 1], targets[start + 1 : stop + 1]


def split_ends(dates: pd.DatetimeIndex, split: SplitConfig) -> tuple[int, int]:
    """Row indices where validation and test begin, from fractions of the rows or from dates."""
    n = len(dates)

    def start(value: float | object, fraction_from_end: float) -> int:
        if isinstance(value, float):
            return n - int(round(n * fraction_from_end))
        return int(np.searchsorted(dates.to_numpy(), np.datetime64(value), side="left"))

    test_fraction = split.test if isinstance(split.test, float) else 0.0
    test_start = start(split.test, test_fraction)
    validation_fraction = split.validation if isinstance(split.validation, float) else 0.0
    if isinstance(split.validation, float):
        validation_start = test_start - int(round(n * validation_fraction))
    else:
        validation_start = start(split.validation, 0.0)
    return validation_start, test_start


def prepare(series: Series, data: DataConfig, *, scaler: Scaler | None = None,
            ends: tuple[int, int] | None = None) -> Prepared:
    """Transform, split and scale; the scaler sees the training rows only.

    With a `scaler` (a trained run's), nothing is fitted and the series need only be long enough for one window.
    With `ends` (train_end, validation_end) the split is given in rows and the test split may be empty (refitting
    on an expanding window in a backtest).
    """
    columns = list(series.values.columns)
    transforms = [data.transform] + [data.feature_transform] * (len(columns) - 1)
    transformed = np.column_stack([
        apply_transform(series.values[name].to_numpy(), kind, column=name, dates=series.dates)
        for name, kind in zip(columns, transforms)
    ])
    offset = rows_consumed(data)
    transformed, raw, dates = transformed[offset:], series.values.to_numpy()[offset:], series.dates[offset:]
    train_end, validation_end = ends if ends is not None else split_ends(dates, data.split)
    if scaler is None:
        _check_lengths(dates, train_end, validation_end, data, data.lookback + data.horizon, series,
                       test_needed=ends is None)
        scaler = Scaler.fit(data.scaler, transformed[:train_end], columns=columns)
    elif len(dates) < data.lookback:
        raise DataError(
            f"{series.path}: {len(series.dates)} rows, but the model reads windows of {data.lookback} observations"
            f"{' (plus one row consumed by the ' + data.transform + ' transform)' if offset else ''}; "
            f"give at least {data.lookback + offset} rows"
        )
    return Prepared(
        dates=dates, raw=raw, scaled=scaler.transform(transformed).astype(np.float32), columns=columns,
        transforms=transforms, scaler=scaler, lookback=data.lookback, horizon=data.horizon,
        train_end=train_end, validation_end=validation_end,
    )


def _check_lengths(dates, train_end, validation_end, data: DataConfig, need: int, series: Series,
                   *, test_needed: bool = True) -> None:
    sizes = {"train": train_end, "validation": validation_end - train_end, "test": len(dates) - validation_end}
    if not test_needed:
        sizes.pop("test")
    lacking = {name: size for name, size in sizes.items() if size < (need if name == "train" else data.horizon)}
    if lacking or train_end <= 0:
        detail = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise DataError(
            f"{series.path}: too few rows for lookback {data.lookback} + horizon {data.horizon} and the splits "
            f"({len(series.dates)} rows; {detail} after the transform): training needs at least {need} rows, "
            f"validation and test at least {data.horizon} each; use a longer file, a smaller lookback, or other "
            "data.split values"
        )
