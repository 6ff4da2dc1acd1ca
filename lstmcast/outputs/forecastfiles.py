"""A forecast as the commands hand it over (dated values, intervals, notices) and the files written from it: the
forecast CSV (one series, or a panel's with a series column) and the fan-chart PNG, each refused over a file that is not
lstmcast's own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from lstmcast.errors import ConfigError
from lstmcast.files.atomic import absolute, check_output, write_text
from lstmcast.outputs import plots
from lstmcast.outputs.tables import forecast_csv, is_forecast_csv, panel_forecast_csv


HISTORY_SHOWN = 250  # rows of history a Forecast keeps for --plot

@dataclass
class Forecast:
    target: str
    last_date: dt.date
    last_value: float
    dates: list[dt.date]
    values: list[float]
    calendar: str  # how the dates were found, in words
    notices: list[str] = field(default_factory=list)
    actual: Optional[list[Optional[float]]] = None  # with --as-of: the CSV's values at the forecast dates, if any
    history_dates: list[dt.date] = field(default_factory=list)  # the last rows before the forecast, for --plot
    history: list[float] = field(default_factory=list)
    intervals: dict[str, tuple[list[Optional[float]], list[Optional[float]]]] = field(default_factory=dict)  # "80"
    interval_method: Optional[str] = None  # how the intervals were made, in words
    series: Optional[str] = None  # the series' id, in a panel
    drift: Optional[dict] = None  # the final state's distance to the training states (introspect.drift)

    def as_json(self) -> dict:
        rows = [{"date": str(d), "value": v} for d, v in zip(self.dates, self.values)]
        if self.actual is not None:
            for row, actual in zip(rows, self.actual):
                row["actual"] = actual
        for level, (lower, upper) in self.intervals.items():
            for row, low, high in zip(rows, lower, upper):
                row.setdefault("intervals", {})[level] = {"lower": low, "upper": high}
        extra = {"interval_method": self.interval_method} if self.intervals else {}
        named = {"series": self.series} if self.series is not None else {}
        drift = {"state_drift": self.drift} if self.drift is not None else {}
        return {**named, "target": self.target, "last_date": str(self.last_date), "last_value": self.last_value,
                "calendar": self.calendar, **extra, **drift, "forecast": rows}


def recent_history(dates, values) -> dict[str, list]:
    """A Forecast's history fields: the last HISTORY_SHOWN dates and target values of a series (for --plot)."""
    shown = slice(max(0, len(dates) - HISTORY_SHOWN), None)
    return {"history_dates": [d.date() for d in dates[shown]], "history": values.iloc[shown, 0].tolist()}


def check_outputs(out: Optional[Path], plot: Optional[Path], *, force: bool) -> None:
    """Refuse now, before any work: an existing file that is not ours, a plot that is not a .png, one path twice."""
    plots.check_png_path(plot)
    chosen = [(absolute(path), what, recognise) for path, what, recognise in
              ((out, "a forecast CSV", is_forecast_csv), (plot, "a plot", plots.is_plot))
              if path is not None and str(path) != "-"]
    if len({path for path, _, _ in chosen}) < len(chosen):
        raise ConfigError("--out and --plot name the same file; give each its own")
    for path, what, recognise in chosen:
        check_output(path, force=force, what=what, recognise=recognise)


def forecast_text(forecasts: list[Forecast], *, panel: bool = False) -> str:
    """The forecast CSV, for a file or for standard output (--out -): step,date,<target>[,lower_L,upper_L...] for
    one series; for a panel run the same with a leading series column."""
    if panel:
        return panel_forecast_csv(forecasts)
    (forecast,) = forecasts
    return forecast_csv(forecast.target, forecast.dates, forecast.values, intervals=forecast.intervals)


def write_forecast(path: Path, forecasts: list[Forecast], *, panel: bool = False, force: bool) -> None:
    write_text(path, forecast_text(forecasts, panel=panel), force=force, what="a forecast CSV",
               recognise=is_forecast_csv)


def write_forecast_plot(path: Path, forecast: Forecast, *, force: bool) -> None:
    """--plot: the recent history and the dated forecast (and the actual values, when --as-of left some)."""
    from lstmcast.files.atomic import atomic_output

    with atomic_output(path, force=force, what="a plot", recognise=plots.is_plot, suffix=".png") as temp:
        plots.forecast_with_history(
            temp, history_dates=pd.DatetimeIndex(forecast.history_dates), history=np.array(forecast.history),
            forecast_dates=pd.DatetimeIndex(forecast.dates), forecast=np.array(forecast.values),
            target=forecast.target, actual=None if forecast.actual is None else np.array(
                [np.nan if v is None else v for v in forecast.actual], dtype=np.float64), intervals=forecast.intervals,
            title=f"{forecast.target}: {len(forecast.dates)} steps after {forecast.last_date} ({forecast.calendar})",
        )
