"""lstmcast predict: a trained run + a CSV -> the next steps after its last row, dated, in the user's units."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from lstmcast.data.calendar import check_gaps
from lstmcast.errors import DataError
from lstmcast.files.atomic import write_text
from lstmcast.forecasting.predict import forecast_scaled, to_user_units
from lstmcast.outputs.tables import forecast_csv, is_forecast_csv
from lstmcast.runs.load import open_run, run_data


@dataclass
class Forecast:
    target: str
    last_date: dt.date
    last_value: float
    dates: list[dt.date]
    values: list[float]
    calendar: str  # how the dates were found, in words
    notices: list[str] = field(default_factory=list)


def predict_run(run_dir: Path, *, data_path: Optional[Path] = None, horizon: Optional[int] = None,
                overrides: Optional[list[str]] = None) -> Forecast:
    """Forecast `horizon` steps (default: the trained horizon) after the CSV's last row."""
    run = open_run(run_dir)
    series, prepared = run_data(run, data_path, overrides=overrides, command="predict")
    check_gaps(series.dates, run.calendar, steps=prepared.lookback, what=str(series.path))
    steps = horizon or run.meta.horizon
    x = prepared.tensor()[-prepared.lookback:][None]  # [1, lookback, F]
    scaled = forecast_scaled(run.model, x, steps)
    values = to_user_units(prepared, scaled, np.array([len(prepared.dates) - 1]))[0]
    if not np.isfinite(values).all():
        raise DataError(f"the forecast is not finite ({values.tolist()[:5]}); the input data may be extreme")
    notices = run.notices + list(series.notices)
    if steps > run.meta.horizon:
        notices.append(f"the model was trained for {run.meta.horizon} steps; steps beyond feed its own forecasts back")
    return Forecast(
        target=run.meta.target, last_date=series.dates[-1].date(), last_value=float(prepared.raw[-1, 0]),
        dates=[d.date() for d in run.calendar.following(series.dates[-1], steps)], values=values.tolist(),
        calendar=run.calendar.describe(), notices=notices,
    )


def write_forecast(path: Path, forecast: Forecast, *, force: bool) -> None:
    write_text(path, forecast_csv(forecast.target, forecast.dates, forecast.values), force=force,
               what="a forecast CSV", recognise=is_forecast_csv)
