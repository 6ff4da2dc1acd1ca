"""A panel prepared for one global model without look-ahead: one pair of cut-off dates for every series (so no series'
future informs another's past), each series transformed and scaled on its own training rows, and the windows of all
series indexed in one tensor (batches mix series; a window never crosses two)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lstmcast.config import DataConfig
from lstmcast.data.panel import Panel, panel_dates
from lstmcast.data.calendar import Calendar
from lstmcast.data.scalers import Scaler
from lstmcast.data.transforms import rows_consumed
from lstmcast.data.windows import Prepared, WindowSet, history_ends, prepare, split_ends, split_sizes
from lstmcast.errors import DataError, quote


@dataclass(frozen=True)
class PreparedPanel:
    """Each series prepared alone, in panel order, with the shared cut-offs; `skipped` says why a series is not."""

    members: dict[str, Prepared]
    skipped: dict[str, str]
    validation_start: pd.Timestamp | None  # the first date of the validation split (None: a final fit on all rows)
    test_start: pd.Timestamp | None
    lookback: int
    horizon: int
    statics: dict[str, list[str]] = field(default_factory=dict)  # each static covariate's values in code order

    @property
    def ids(self) -> list[str]:
        return list(self.members)

    @property
    def columns(self) -> list[str]:
        return next(iter(self.members.values())).columns

    @property
    def categories(self) -> tuple[int, ...]:
        """How many values each static covariate takes, in data.static_covariates order."""
        return tuple(len(values) for values in self.statics.values())

    @property
    def transforms(self) -> list[str]:
        return next(iter(self.members.values())).transforms

    def origins(self, split: str) -> np.ndarray:
        """Every member's origins in `split`, end to end (their count is the panel's window count)."""
        return np.concatenate([member.origins(split) for member in self.members.values()])

    def split_windows(self, splits: tuple[str, ...], *, device: str = "cpu") -> dict[str, WindowSet]:
        """The windows of several splits over one copy of every member's rows on `device`, end to end."""
        values = torch.cat([member.tensor(device) for member in self.members.values()])
        offsets = np.cumsum([0] + [len(member.dates) for member in self.members.values()])[:-1]
        windows = {}
        for split in splits:
            ends = [offset + member.origins(split) for offset, member in zip(offsets, self.members.values())]
            series = [np.full(len(part), position) for position, part in enumerate(ends)]
            windows[split] = WindowSet.over(values, np.concatenate(ends), lookback=self.lookback,
                                            horizon=self.horizon, series=np.concatenate(series))
        return windows


def cutoffs(panel: Panel, data: DataConfig, *, history: bool = False) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first validation and test dates of the whole panel: data.split's dates, or its fractions of every date
    any series has (after the transform's first row). With `history` (refitting up to a backtest origin) there is
    no test split, and validation takes the same fraction of the history, or starts at the validation date."""
    union = panel_dates(panel.members, skip=rows_consumed(data))
    if len(union) == 0:
        raise DataError(f"{panel.path}: no series has a row after the {rows_consumed(data)} its transform consumes")
    validation, test = (history_ends if history else split_ends)(union, data.split)
    beyond = union[-1] + pd.Timedelta(days=1)  # an empty split starts after the last date
    return (union[validation] if validation < len(union) else beyond, union[test] if test < len(union) else beyond)


def prepare_panel(panel: Panel, data: DataConfig, *, final: bool = False, strict: bool = False,
                  scalers: dict[str, Scaler] | None = None, calendar: Calendar | None = None,
                  statics: dict[str, list[str]] | None = None, history: bool = False) -> tuple[PreparedPanel, list[str]]:
    """Prepare every series of the panel; a series too short for lookback + horizon and the splits is skipped with a
    notice (refused with `strict`). With `scalers` (a trained run's) nothing is fitted and no split is made, and
    `statics` gives the trained run's static covariate values (else they are the panel's)."""
    offset = rows_consumed(data)
    starts = (None, None) if final or scalers is not None else cutoffs(panel, data, history=history)
    statics = statics if statics is not None else static_values(panel, data)
    codes_of = static_codes(panel, statics, data)
    members, skipped = {}, {}
    for name, series in panel.members.items():
        codes = codes_of[name]
        if scalers is not None:
            members[name] = prepare(series, data, scaler=scalers[name], calendar=calendar, statics=codes)
            continue
        ends = _ends(series.dates[offset:], starts)
        problem = None if final else _too_short(len(series.dates) - offset, ends, data, test=not history)
        if problem is None:
            members[name] = prepare(series, data, ends=ends, final=final, calendar=calendar, statics=codes)
        elif strict:
            raise DataError(f"{series.where}: {problem} (--strict refuses a panel with such a series; drop it from "
                            "data.series, or leave out --strict to skip it)")
        else:
            skipped[name] = problem
    if not members:
        reasons = "; ".join(f"{name}: {why}" for name, why in list(skipped.items())[:5])
        raise DataError(f"{panel.path}: no series is long enough for lookback {data.lookback} + horizon "
                        f"{data.horizon} and the splits ({reasons}); use a smaller lookback or other data.split dates")
    notices = [f"{panel.path}: series {name} skipped: {why}" for name, why in skipped.items()]
    prepared = PreparedPanel(members, skipped, starts[0], starts[1], data.lookback, data.horizon, statics)
    return prepared, notices


def static_values(panel: Panel, data: DataConfig) -> dict[str, list[str]]:
    """Each static covariate's values, sorted (the order of its embedding's rows): the ids for "series"."""
    return {name: list(panel.ids) if name == "series" else sorted({values[name] for values in panel.statics.values()})
            for name in data.static_covariates}


def static_codes(panel: Panel, statics: dict[str, list[str]],
                 data: DataConfig) -> dict[str, tuple[tuple[int, int], ...]]:
    """Each series' (code, number of codes) per static covariate, codes by position in `statics`."""
    positions = {covariate: {value: code for code, value in enumerate(values)} for covariate, values in statics.items()}
    return {name: _codes(panel, name, positions, data) for name in panel.members}


def _codes(panel: Panel, name: str, positions: dict[str, dict[str, int]],
           data: DataConfig) -> tuple[tuple[int, int], ...]:
    """(code, number of codes) of each static covariate of series `name`; a value the model never saw is refused."""
    codes = []
    for covariate in data.static_covariates:
        value = name if covariate == "series" else panel.statics[name][covariate]
        known = positions[covariate]
        if value not in known:
            what = "series" if covariate == "series" else f"{quote(covariate)} value {quote(value)} of series"
            shown = ", ".join(list(known)[:10]) + (", ..." if len(known) > 10 else "")
            raise DataError(f"{panel.path}: {what} {quote(name)} was not in the panel the model was trained on, so "
                            f"it has no learned embedding; the model knows {shown}")
        codes.append((known[value], len(known)))
    return tuple(codes)


def _ends(dates: pd.DatetimeIndex, starts: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> tuple[int, int]:
    validation, test = starts
    if validation is None or test is None:
        return len(dates), len(dates)
    return (int(np.searchsorted(dates.to_numpy(), validation.to_datetime64(), side="left")),
            int(np.searchsorted(dates.to_numpy(), test.to_datetime64(), side="left")))


def _too_short(rows: int, ends: tuple[int, int], data: DataConfig, *, test: bool = True) -> str | None:
    """Why a series cannot take part (the rule `prepare` applies to a single series), or None."""
    sizes, enough = split_sizes(rows, *ends, data, test_needed=test)
    if enough:
        return None
    counts = ", ".join(f"{size} {'training' if name == 'train' else name}" for name, size in sizes.items())
    return (f"{counts} rows before and after the panel's cut-offs, but training needs {data.lookback + data.horizon} "
            f"(lookback {data.lookback} + horizon {data.horizon}) and {' and '.join(list(sizes)[1:])} "
            f"{data.horizon} each")
