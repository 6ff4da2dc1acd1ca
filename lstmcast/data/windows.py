"""Chronological splits, scaling fitted on training rows only, and windows as views into one tensor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lstmcast.config import DataConfig, SplitConfig
from lstmcast.data.calendar import Calendar
from lstmcast.data.covariates import covariate_columns
from lstmcast.data.reading import Series
from lstmcast.data.scalers import Scaler
from lstmcast.data.transforms import apply_transform, rows_consumed
from lstmcast.errors import DataError, quote

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Prepared:
    """A series after transform and scaling. Row r of every array is the same date; split ends are row indices."""

    dates: pd.DatetimeIndex  # [M]
    raw: np.ndarray  # [M, F] the user's values, aligned with the transformed rows
    scaled: np.ndarray  # [M, F + C] float32 model inputs: the scaled values (column 0 the target), then covariates
    columns: list[str]  # the F value columns
    transforms: list[str]
    scaler: Scaler
    lookback: int
    horizon: int
    train_end: int  # rows [0, train_end) are training rows
    validation_end: int  # rows [train_end, validation_end) validate; the rest test
    covariates: tuple[str, ...] = ()  # the C columns after the values: calendar leads, then static codes
    categories: tuple[int, ...] = ()  # how many values each static covariate takes (its code's range)

    def origins(self, split: str) -> np.ndarray:
        """Row index of each window's last input step, for the windows whose targets all lie in `split`."""
        first, last = self.lookback - 1, len(self.dates) - 1 - self.horizon
        start, end = {"train": (0, self.train_end), "validation": (self.train_end, self.validation_end),
                      "test": (self.validation_end, len(self.dates)), "all": (0, len(self.dates))}[split]
        return np.arange(max(first, start - 1), min(last, end - 1 - self.horizon) + 1)

    def windows(self, origins: np.ndarray, *, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [W, lookback, F] and targets [W, horizon] for contiguous origins, as views (no per-window copy)."""
        return window_views(self.tensor(device), origins, lookback=self.lookback, horizon=self.horizon)

    def windows_at(self, rows: np.ndarray) -> torch.Tensor:
        """Inputs [N, lookback, F] of the windows ending at any `rows` (not only contiguous ones), gathered (a copy)."""
        return self.tensor()[rows[:, None] - self.lookback + 1 + np.arange(self.lookback)[None, :]]

    def split_windows(self, splits: tuple[str, ...], *, device: str = "cpu") -> dict[str, "WindowSet"]:
        """The windows of several splits, all indexing one copy of the data on `device`."""
        values = self.tensor(device)
        return {split: WindowSet.over(values, self.origins(split), lookback=self.lookback, horizon=self.horizon)
                for split in splits}

    def tensor(self, device: str = "cpu") -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.scaled, dtype=np.float32)).to(device)


@dataclass(frozen=True)
class WindowSet:
    """Windows as the positions of their last input row in one tensor of rows [P, F] (one series, or a panel's series
    end to end): a batch gathers its windows from views, so no window is ever copied except into its batch, and a
    window never crosses a series because only positions inside one are listed."""

    inputs: torch.Tensor  # [P - lookback + 1, lookback, F] view: the window ending at row p is inputs[p - lookback + 1]
    targets: torch.Tensor  # [P - horizon + 1, horizon] view: the targets after row p are targets[p + 1]
    ends: torch.Tensor  # [W] int64, the last input row of each window
    series: torch.Tensor  # [W] int64, each window's series (its position in the panel; 0 for a single series)
    lookback: int

    @classmethod
    def over(cls, values: torch.Tensor, ends: np.ndarray, *, lookback: int, horizon: int,
             series: np.ndarray | None = None) -> "WindowSet":
        """Windows of values [P, F] ending at `ends` (each leaving room for lookback rows before and horizon after)."""
        count = len(values)
        inputs = values.unfold(0, lookback, 1).transpose(1, 2) if count >= lookback else values.new_zeros(
            (0, lookback, values.shape[1]))
        targets = values[:, 0].unfold(0, horizon, 1) if count >= horizon else values.new_zeros((0, horizon))
        ends = np.asarray(ends, dtype=np.int64)
        if len(ends) and (ends.min() < lookback - 1 or ends.max() + horizon >= count):
            raise ValueError("every window needs lookback rows up to its end and horizon rows after it")
        series = np.zeros(len(ends), dtype=np.int64) if series is None else np.asarray(series, dtype=np.int64)
        return cls(inputs, targets, torch.from_numpy(ends).to(values.device),
                   torch.from_numpy(series).to(values.device), lookback)

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [B, lookback, F] and targets [B, horizon] of the windows at `index` (positions into `ends`)."""
        ends = self.ends[index]
        return self.inputs[ends - (self.lookback - 1)], self.targets[ends + 1]

    def slices(self, size: int, *, within: range | None = None):
        """(inputs, targets) of consecutive batches of `size` windows, in order (of the positions `within` only)."""
        within = range(len(self)) if within is None else within
        for start in range(within.start, within.stop, size):
            yield self.batch(torch.arange(start, min(start + size, within.stop), device=self.device))


def window_views(values: torch.Tensor, origins: np.ndarray, *, lookback: int, horizon: int) -> tuple:
    """Windows ending at contiguous `origins` of values [M, F]: inputs [W, lookback, F] and targets [W, horizon]."""
    if len(origins) == 0:
        return values.new_zeros((0, lookback, values.shape[1])), values.new_zeros((0, horizon))
    start, stop = int(origins[0]), int(origins[-1]) + 1
    if stop - start != len(origins) or start < lookback - 1:
        raise ValueError("origins must be contiguous and leave room for a full window")
    x = values.unfold(0, lookback, 1).transpose(1, 2)  # [M - lookback + 1, lookback, F], a view
    targets = values[:, 0].unfold(0, horizon, 1) if len(values) > horizon else values.new_zeros((0, horizon))
    return x[start - lookback + 1 : stop - lookback + 1], targets[start + 1 : stop + 1]


def split_ends(dates: pd.DatetimeIndex, split: SplitConfig, *, strict: bool = True) -> tuple[int, int]:
    """Row indices where validation and test begin, from fractions of the rows or from dates.

    Not `strict`: where a trained run's split dates fall in a CSV it only predicts from (a recent download may start
    after both dates, so both splits start at its first row; nothing is refused, nothing is fitted on them)."""
    n = len(dates)
    test_start = _start(dates, split.test, n - int(round(n * split.test)) if isinstance(split.test, float) else 0)
    if isinstance(split.validation, float):
        return max(test_start - int(round(n * split.validation)), 0), test_start
    validation_start = _start(dates, split.validation, 0)
    if not strict:
        return min(validation_start, test_start), test_start
    if validation_start == test_start == 0 and n:
        raise DataError(f"the rows start on {dates[0].date()}, after both split dates (split.validation "
                        f"{split.validation}, split.test {split.test}), so no row is left for training; give a CSV "
                        "with earlier rows, or later split dates")
    if validation_start >= test_start:
        test_from = dates[test_start].date() if test_start < n else "after the last row"
        raise DataError(f"split.validation {split.validation} does not come before the test split, which starts at "
                        f"{test_from} (split.test: {split.test}); choose an earlier validation date or a smaller "
                        "test fraction")
    return validation_start, test_start


def history_ends(dates: pd.DatetimeIndex, split: SplitConfig) -> tuple[int, int]:
    """Splits for refitting on all history up to a backtest origin: no test rows (the walk-forward is the test), and
    validation from the same fraction of the history, or from the validation date."""
    n = len(dates)
    if isinstance(split.validation, float):
        return n - int(round(n * split.validation)), n
    start = _start(dates, split.validation, 0)
    if start == 0 and n:
        raise DataError(f"the rows start on {dates[0].date()}, after split.validation {split.validation}, so no row is "
                        "left to refit on before it; give a CSV with earlier rows, or a later split.validation")
    return start, n


def _start(dates: pd.DatetimeIndex, value: float | object, from_fraction: int) -> int:
    if isinstance(value, float):
        return from_fraction
    return int(np.searchsorted(dates.to_numpy(), np.datetime64(value), side="left"))


def prepare(series: Series, data: DataConfig, *, scaler: Scaler | None = None,
            ends: tuple[int, int] | None = None, final: bool = False, calendar: Calendar | None = None,
            statics: tuple[tuple[int, int], ...] = (), stream: bool = False) -> Prepared:
    """Transform, split and scale; the scaler sees the training rows only (with `final`, every row is training).
    Covariates follow the values: the calendar's (dated by `calendar`, else the frequency the dates show) and each
    static covariate's (code, number of codes) in `statics`.

    With a `scaler` (a trained run's), nothing is fitted and the series need only be long enough for one window (with
    `stream`, rows read one at a time into a carried state, for one row).
    With `ends` (train_end, validation_end) the split is given in rows and the test split may be empty (refitting
    on an expanding window in a backtest)."""
    columns = list(series.values.columns)
    transforms = [data.transform] + [data.feature_transform] * (len(columns) - 1)
    try:
        transformed = np.column_stack([
            apply_transform(series.values[name].to_numpy(), kind, column=name, dates=series.dates)
            for name, kind in zip(columns, transforms)
        ])
    except DataError as exc:
        raise DataError(f"{series.where}: {exc}") from None
    offset = rows_consumed(data)
    transformed, raw, dates = transformed[offset:], series.values.to_numpy()[offset:], series.dates[offset:]
    if final:
        ends = (len(dates), len(dates))
    train_end, validation_end = ends if ends is not None else split_ends(dates, data.split, strict=scaler is None)
    if scaler is None:
        _check_lengths(dates, train_end, validation_end, data, series, test_needed=ends is None,
                       validation_needed=not final)
        try:
            scaler = Scaler.fit(data.scaler, transformed[:train_end], columns=columns)
        except DataError as exc:
            raise DataError(f"{series.where}: {exc}") from None
    elif len(dates) < (need := 1 if stream else data.lookback):
        reads = "reads the rows one at a time" if stream else f"reads windows of {data.lookback} observations"
        raise DataError(
            f"{series.where}: {len(series.dates)} rows, but the model {reads}"
            f"{' (plus one row consumed by the ' + data.transform + ' transform)' if offset else ''}; "
            f"give at least {need + offset} rows"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = scaler.transform(transformed).astype(np.float32)
    _check_finite(scaled, columns, dates, series)
    extra, names = covariate_columns(dates, data, calendar, [code for code, _ in statics])
    return Prepared(
        dates=dates, raw=raw, scaled=scaled if extra is None else np.concatenate([scaled, extra], axis=1),
        columns=columns, transforms=transforms, scaler=scaler, lookback=data.lookback, horizon=data.horizon,
        train_end=train_end, validation_end=validation_end, covariates=tuple(names),
        categories=tuple(count for _, count in statics),
    )


def _check_finite(scaled: np.ndarray, columns: list[str], dates: pd.DatetimeIndex, series: Series) -> None:
    bad = ~np.isfinite(scaled)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(
            f"{series.where}: column {quote(columns[column])}: the value on {dates[row].date()} becomes non-finite "
            "after the transform and scaling (an extreme jump, or values far outside the training range); check "
            "that row, or choose another transform"
        )


def split_sizes(rows: int, train_end: int, validation_end: int, data: DataConfig, *, test_needed: bool = True,
                validation_needed: bool = True) -> tuple[dict[str, int], bool]:
    """The rows of each split that must hold windows, and whether they are enough: training lookback + horizon,
    validation and test a horizon each (the rule for a single series and for every series of a panel)."""
    sizes = {"train": train_end, "validation": validation_end - train_end, "test": rows - validation_end}
    for split, needed in (("test", test_needed), ("validation", validation_needed)):
        if not needed:
            sizes.pop(split)
    need = data.lookback + data.horizon
    enough = train_end > 0 and all(size >= (need if name == "train" else data.horizon) for name, size in sizes.items())
    return sizes, enough


def _check_lengths(dates, train_end, validation_end, data: DataConfig, series: Series, *, test_needed: bool,
                   validation_needed: bool = True) -> None:
    need = data.lookback + data.horizon
    sizes, enough = split_sizes(len(dates), train_end, validation_end, data, test_needed=test_needed,
                                validation_needed=validation_needed)
    if not enough:
        detail = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise DataError(
            f"{series.where}: too few rows for lookback {data.lookback} + horizon {data.horizon} and the splits "
            f"({len(series.dates)} rows; {detail} after the transform): training needs at least {need} rows, "
            f"validation and test at least {data.horizon} each; use a longer file, a smaller lookback, or other "
            "data.split values"
        )
