"""lstmcast predict --stream / --from-state: forecasts from the encoder state carried over the whole series, one row
at a time, from its first row or from a state saved after an earlier run (reading only the rows after it), so a
daily job reads one new row a day and gets, bit for bit, what a pass over the whole history gives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from lstmcast.data.calendar import check_gaps
from lstmcast.data.reading import Series
from lstmcast.data.transforms import invert_target
from lstmcast.data.windows import prepare
from lstmcast.errors import ConfigError, DataError, ModelFileError
from lstmcast.files.atomic import check_output
from lstmcast.forecasting.stateful import carry, forecast_from_state
from lstmcast.introspect.drift import MIN_REFERENCE, DriftReference, flag, flat_state, reference_rows, unusual_notice
from lstmcast.models.lstm import LSTMState
from lstmcast.outputs.forecastfiles import Forecast, recent_history
from lstmcast.outputs.statefiles import AGAIN, SavedState, is_state_file, read_state, write_state
from lstmcast.runs.load import Run, open_run, reading_config, run_series


@dataclass
class StreamRequest:
    run_dir: Path
    data_path: Optional[Path] = None
    from_state: Optional[Path] = None
    save_state: Optional[Path] = None
    horizon: Optional[int] = None
    overrides: list[str] = field(default_factory=list)
    force: bool = False


@dataclass
class StreamOutcome:
    forecast: Forecast
    rows_read: int  # rows the state was carried over in this call
    stream_start: dt.date  # the row the stream began at (zero state)


def stream_predict(request: StreamRequest) -> StreamOutcome:
    run = open_run(request.run_dir)
    if run.is_panel:
        raise ConfigError(f"{request.run_dir} is a panel run: --stream, --from-state and --save-state forecast one "
                          "series of a single-series run")
    if request.save_state is not None:  # refused now, before any work, by the rules the write applies
        check_output(request.save_state, force=request.force, what="a saved state", recognise=is_state_file)
    full = run_series(run, request.data_path, overrides=request.overrides, command="predict")
    reading = reading_config(run, request.overrides, "predict")
    name = reading.series if isinstance(reading.series, str) else None  # the series of a CSV in long form
    saved = _saved(run, request.from_state, full, name) if request.from_state else None
    series = full if saved is None else _after(full, saved)
    notes = [] if saved is None else _continuation(run, full, series, saved, ffill=reading.missing == "ffill")
    check_gaps(series.dates, run.calendar, steps=len(series.dates), what=full.where)  # the stream reads every row
    reached = _read_on(run, series, saved)
    steps = request.horizon or run.meta.horizon
    scaled = forecast_from_state(run.model, reached.state, reached.last_row, steps)
    values = invert_target(scaled[None], reached.last_raw[:1], kind=run.config.data.transform,
                           center=float(run.scaler.center[0]), scale=float(run.scaler.scale[0]))[0]
    if not np.isfinite(values).all():
        raise DataError(f"{full.where}: the forecast is not finite ({values.tolist()[:5]}); the input data may be "
                        "extreme")
    if request.save_state is not None:
        _save(request.save_state, run, reached, saved, name, force=request.force)
    drift = None if reached.reference is None else \
        flag(reached.reference, *(part.transpose(0, 1).numpy() for part in reached.state), states="stream")
    return StreamOutcome(_forecast(run, full, reached, values, drift, notes + _drift_notes(run, drift, saved)),
                         reached.rows, reached.start)


def _save(path: Path, run: Run, reached: _Reached, saved: Optional[SavedState], name: Optional[str], *,
          force: bool) -> None:
    """The state after the last row read, with the drift reference once the stream has read every training date
    (saved earlier, a continuation would read more of them than the reference holds)."""
    about = {"weights_sha256": run.meta.weights_sha256, "last_date": str(reached.last_date),
             "stream_start": str(reached.start), "rows": reached.rows + (saved.about["rows"] if saved else 0),
             "columns": run.meta.columns, "target": run.meta.target, "series": name}
    complete = reached.reference is not None and reached.last_date >= _train_last(run)
    reference = {k: torch.from_numpy(v) for k, v in reached.reference.arrays().items()} if complete else {}
    write_state(path, SavedState(*reached.state, reached.last_row, torch.from_numpy(reached.last_raw.copy()), about,
                                 reference), force=force)


def _train_last(run: Run) -> dt.date:
    return run.meta.target_dates["train"][1]


@dataclass
class _Reached:
    """Where a stream stands after reading: the state after its last row, that row as read and raw, its date, the
    rows read in this call, the date the stream began (from a zero state), and the drift reference: the stream's
    states on the run's training dates (None when the stream read too few of them)."""

    state: LSTMState
    last_row: torch.Tensor  # [1, C]
    last_raw: np.ndarray  # [F] float64
    last_date: dt.date
    rows: int
    start: dt.date
    reference: Optional[DriftReference]


def _read_on(run: Run, series: Series, saved: Optional[SavedState]) -> _Reached:
    """Carry the state over the rows of `series` after the saved one (all of them without a saved state, keeping
    the states on the training dates for the drift reference; a continuation uses the saved one)."""
    saved_reference = DriftReference(**{k: v.numpy() for k, v in saved.drift.items()}) if saved and saved.drift \
        else None
    if saved is not None and len(series.dates) == 1:  # nothing new: where the saved state stands
        return _Reached((saved.h, saved.c), saved.last_row, saved.last_raw.numpy(), saved.last_date, 0,
                        saved.stream_start, saved_reference)
    prepared = prepare(series, run.config.data, scaler=run.scaler, calendar=run.calendar, stream=True)
    new = np.arange(len(prepared.dates)) if saved is None else \
        np.flatnonzero(prepared.dates > pd.Timestamp(saved.last_date))
    at = reference_rows(prepared, run.meta.target_dates["train"]) if saved is None else ()
    x = prepared.tensor()[new][None]
    state, kept = carry(run.model, x, None if saved is None else (saved.h, saved.c), keep=at)
    reference = saved_reference
    if saved is None and len(kept) >= MIN_REFERENCE:
        reference = DriftReference.fit(flat_state(*(torch.cat(part, 1).transpose(0, 1).numpy()
                                                     for part in zip(*kept))))
    start = saved.stream_start if saved else prepared.dates[0].date()
    return _Reached(state, x[:, -1], prepared.raw[new[-1]].astype(np.float64), prepared.dates[new[-1]].date(),
                    len(new), start, reference)


def _drift_notes(run: Run, drift: Optional[dict], saved: Optional[SavedState]) -> list[str]:
    if drift is not None:
        return [unusual_notice(drift)] if drift["unusual"] else []
    if saved is None:
        return [f"no state drift flag: the stream read fewer than {MIN_REFERENCE} rows on the run's training dates "
                "(its reference is the stream's own states there); give the CSV with its training rows to get one"]
    return [f"no state drift flag: the saved state carries no reference (a state saves one only after the stream has "
            f"read every training date, through {_train_last(run)}, and at least {MIN_REFERENCE} of them); run "
            "--stream over a CSV holding them and --save-state again"]


def _saved(run: Run, path: Path, full: Series, name: Optional[str]) -> SavedState:
    """A saved state, refused unless it was saved from this run's weights (and the same series of the CSV), with the
    shapes of this model's states."""
    saved = read_state(path)
    if saved.about["weights_sha256"] != run.meta.weights_sha256 or saved.about["columns"] != run.meta.columns:
        raise ModelFileError(f"--from-state {path}: saved from another model (its weights or columns differ from "
                             f"{run.path}'s); a state only means something to the weights that computed it")
    lstm = run.model.encoder
    shapes = (tuple(saved.h.shape), tuple(saved.c.shape), saved.last_row.shape[1], len(saved.last_raw))
    wanted = ((lstm.num_layers, 1, lstm.proj_size or lstm.hidden_size), (lstm.num_layers, 1, lstm.hidden_size),
              run.model.inputs.layout.columns, len(run.meta.columns))
    width = lstm.num_layers * (wanted[0][2] + wanted[1][2])  # every layer's h and c: the drift reference's width
    problem = ""
    if shapes != wanted:
        problem = f"its arrays' sizes {shapes}, but {run.path}'s model has {wanted}"
    elif saved.drift and len(saved.drift["mean"]) != width:
        problem = f"its drift reference's sizes {len(saved.drift['mean'])}, but {run.path}'s states are {width} wide"
    elif saved.drift and len(saved.drift["training"]) < MIN_REFERENCE:  # a save keeps none from fewer
        problem = (f"a drift reference of {len(saved.drift['training'])} training states; lstmcast saves one only "
                   f"from {MIN_REFERENCE} or more")
    elif name is None and saved.about.get("series") is not None:
        problem = f"saved reading series {saved.about['series']!r}, but {run.path} reads a CSV holding one series"
    if problem:
        raise ModelFileError(f"--from-state {path}: damaged or edited ({problem}); {AGAIN}")
    if saved.about.get("series", name) != name:
        raise DataError(f"{full.where}: the state was saved reading series {saved.about['series']}, not {name}; "
                        "continue it on its own series (--set data.series=...)")
    return saved


def _after(full: Series, saved: SavedState) -> Series:
    """The saved row (the anchor of the transforms) and the rows after it. A CSV that still holds the saved row must
    hold the same values there (else the history changed under the state)."""
    last = pd.Timestamp(saved.last_date)
    raw = saved.last_raw.numpy()
    at = np.flatnonzero(full.dates == last)
    if len(at) and not np.array_equal(full.values.iloc[at[0]].to_numpy(dtype=np.float64), raw):
        raise DataError(f"{full.where}: the row of {last.date()} holds {full.values.iloc[at[0]].tolist()}, but the "
                        f"state was saved after reading {raw.tolist()} there; the history changed since, so the "
                        "state no longer describes it: run --stream over the whole CSV again")
    keep = full.dates > last
    dates = pd.DatetimeIndex([last]).append(full.dates[keep])
    values = pd.concat([pd.DataFrame([raw], columns=full.values.columns), full.values[keep]], ignore_index=True)
    return Series(dates, values, full.path, full.sha256, full.notices, full.name)


def _continuation(run: Run, full: Series, series: Series, saved: SavedState, *, ffill: bool) -> list[str]:
    """Refuse a continuation that the whole stream would read differently: with `missing: ffill`, a first new row
    that is blank would be filled from the saved row in the whole CSV but dropped from a CSV without it; with
    calendar covariates, the rows before the save read the next dates from the calendar (the data ended there),
    which must then be the dates the data goes on with. Notices where the CSV cannot show that it continues the
    saved history (it lacks the saved row) or has nothing after it."""
    last = pd.Timestamp(saved.last_date)
    if ffill and not (full.dates == last).any():
        raise ConfigError(f"{full.where}: this run fills missing values forward (data.missing: ffill), so a blank "
                          f"first new row would be filled from the row of {last.date()}, which this CSV lacks; give "
                          "a CSV that still holds that row")
    new = series.dates[1:]
    if run.model.inputs.layout.known and len(new):
        expected = run.calendar.following(last, min(len(new), run.meta.horizon))
        found = new[: len(expected)]
        if not found.equals(expected):
            dated, wanted = (", ".join(str(day.date()) for day in days) for days in (found, expected))
            raise DataError(f"{full.where}: the rows after {last.date()} are dated {dated}, but the state was saved "
                            f"reading the calendar's {wanted} as the next dates (the run's calendar covariates); the "
                            "whole stream would differ: run predict --stream over the whole CSV")
    if full.dates[-1] < last:
        return [f"{full.where} ends on {full.dates[-1].date()}, and the state was saved after {last.date()}: no new "
                "row, so this is the saved state's forecast; is this the latest file?"]
    if not (full.dates == last).any():
        return [f"{full.where} does not hold the row of {last.date()} the state was saved after, so lstmcast cannot "
                "check that it continues the same history (a CSV that holds it is checked value for value)"]
    return []


def _forecast(run: Run, full: Series, reached: _Reached, values: np.ndarray, drift: Optional[dict],
              notes: list[str]) -> Forecast:
    dates = [d.date() for d in run.calendar.following(pd.Timestamp(reached.last_date), len(values))]
    notices = list(full.notices) + [f"stream forecast: the state carried row by row from {reached.start} "
                                    f"({reached.rows} row(s) read now), not the window forecast of plain predict"]
    return Forecast(target=run.meta.target, last_date=reached.last_date, last_value=float(reached.last_raw[0]),
                    dates=dates, values=values.tolist(), calendar=run.calendar.describe(), notices=notices + notes,
                    **recent_history(full.dates, full.values), series=full.name, drift=drift)
