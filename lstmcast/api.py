"""The Python API: what the commands do, for notebooks and scripts, through the same workflows (the same checks,
the same run directories, the same errors: every refusal is an lstmcast.errors.LstmcastError subclass).

    import lstmcast
    model = lstmcast.train("configs/cpi_monthly.yaml", out="runs/cpi", overrides=["training.epochs=5"])
    model = lstmcast.load("runs/cpi")
    model.predict()                      # a DataFrame: date, forecast
    model.predict(frame, as_of="2015-06-01")   # any DataFrame with the run's columns; actual values where known
    dump = model.states(gates=True)      # dump["h"], dump["c"], dump["gate_f"], ..., dump.meta
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from lstmcast.config import build_config, load_config
from lstmcast.config.levels import checked_levels
from lstmcast.errors import ConfigError
from lstmcast.runs.load import Run, open_run
from lstmcast.runs.meta import RunMeta

# torch warns on every projected-LSTM call that oneDNN has no kernel for it; the fallback is exact (as in cli/app.py)
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

Data = Union[None, str, Path, Any]  # None: the run's own CSV; a path; or a pandas DataFrame
DateLike = Union[None, str, dt.date]


def train(config: Union[str, Path, dict], *, out: Union[str, Path], overrides: Optional[list[str]] = None,
          force: bool = False, final: bool = False) -> "Model":
    """Train like `lstmcast train`: `config` is a YAML path or a mapping of the same keys (a relative data.path in a
    mapping is relative to the working directory); `overrides` are --set items."""
    from lstmcast.config.loading import apply_overrides
    from lstmcast.workflows.train import train_run

    extra = list(overrides or []) + (["training.final=true"] if final else [])
    if isinstance(config, dict):
        run_config = build_config(apply_overrides(dict(config), extra), source="config mapping", base_dir=Path.cwd())
    else:
        run_config = load_config(Path(config), extra)
    outcome = train_run(run_config, out=Path(out), force=force, notice=_warn)
    return load(outcome.run_dir)


def load(run: Union[str, Path]) -> "Model":
    """A trained run, checked as every command checks it (hashes, config, weights)."""
    model = Model(Path(run))
    for message in model._run.notices:
        _warn(message)
    return model


@dataclass
class Model:
    """A run directory, for forecasts and state dumps in memory."""

    run_dir: Path

    @functools.cached_property
    def _run(self) -> Run:
        return open_run(self.run_dir)  # checked once; each call's workflow opens the run again, as a command would

    @property
    def meta(self) -> RunMeta:
        return self._run.meta

    @property
    def _date_column(self) -> str:
        return self._run.config.data.date_column

    def predict(self, data: Data = None, *, horizon: Optional[int] = None, as_of: DateLike = None,
                series: Optional[str] = None, levels: Optional[list[float]] = None, samples: Optional[int] = None,
                seed: int = 0) -> Any:
        """Like `lstmcast predict`: a DataFrame of date and forecast (lower_L and upper_L for each interval level in
        percent; actual, with `as_of`, where the data holds it), in the data's units; `frame.attrs` carries the
        target, the last date and value, the notices and how the intervals were made. A probabilistic head's
        intervals come from `samples` sample paths (default 1000) drawn with `seed`."""
        import pandas as pd

        from lstmcast.workflows.predict import predict_run

        with _as_csv(data, self._date_column) as path:
            forecast = predict_run(self.run_dir, data_path=path, horizon=_horizon(horizon), as_of=_date(as_of),
                                   overrides=[f"data.series={series}"] if series else None,
                                   levels=checked_levels(levels or []), samples=samples, seed=seed)
        for message in forecast.notices:
            _warn(message)
        frame = pd.DataFrame({"date": pd.to_datetime(forecast.dates), "forecast": forecast.values})
        for level, (lower, upper) in forecast.intervals.items():
            frame[f"lower_{level}"] = pd.array(lower, dtype="Float64")
            frame[f"upper_{level}"] = pd.array(upper, dtype="Float64")
        if forecast.actual is not None:
            frame["actual"] = pd.array(forecast.actual, dtype="Float64")
        frame.attrs.update(target=forecast.target, last_date=forecast.last_date, last_value=forecast.last_value,
                           calendar=forecast.calendar, notices=list(forecast.notices),
                           interval_method=forecast.interval_method)
        return frame

    def states(self, data: Data = None, *, gates: bool = False, mode: str = "windows", start: DateLike = None,
               end: DateLike = None) -> Any:
        """Like `lstmcast dump-states`, in memory: an outputs.dumpread.Dump (dump["h"], dump["c"], dump.meta, ...),
        checked against nn.LSTM's own output, h_n and c_n as the command checks it. For long series write a dump
        with the command instead (this holds every array in memory)."""
        from lstmcast.outputs.dumpread import read
        from lstmcast.workflows.dump import DumpRequest, dump_states

        if mode not in ("windows", "stream"):
            raise ConfigError(f"mode {mode!r}: windows (each window's states) or stream (the series as one sequence)")
        with _as_csv(data, self._date_column) as path, tempfile.TemporaryDirectory(prefix="lstmcast-states-") as folder:
            outcome = dump_states(DumpRequest(self.run_dir, out=Path(folder) / "states.npz", data_path=path,
                                              mode=mode, gates=gates, date_from=_date(start), date_to=_date(end)),
                                  notice=_warn_unless_size)
            return read(outcome.path)


def _date(value: DateLike) -> Optional[dt.date]:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{str(value)[:40]!r}: give a date as 2015-06-30 (ISO 8601) or a datetime.date") from None


def _horizon(value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ConfigError(f"horizon {value!r}: a whole number of steps from 1 to 10000")
    return value


@contextlib.contextmanager
def _as_csv(data: Data, date_column: str) -> Iterator[Optional[Path]]:
    """A DataFrame passes through a temporary CSV, so it meets exactly the checks a file meets."""
    if data is None or isinstance(data, (str, Path)):
        yield None if data is None else Path(data)
        return
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise ConfigError(f"data: a pandas DataFrame, a CSV path or None (the run's own CSV), not "
                          f"{type(data).__name__}")
    frame = data
    if date_column not in frame.columns and (frame.index.name == date_column or
                                             isinstance(frame.index, (pd.DatetimeIndex, pd.PeriodIndex))):
        frame = frame.rename_axis(date_column).reset_index()  # the dates as the index, whatever its name
    with tempfile.TemporaryDirectory(prefix="lstmcast-data-") as folder:
        path = Path(folder) / "data.csv"
        frame.to_csv(path, index=False)
        yield path


def _warn_unless_size(message: str) -> None:
    if not message.startswith("writing about"):  # the dump's size, of a temporary file: not the caller's concern
        _warn(message)


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)
