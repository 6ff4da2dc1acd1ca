"""lstmcast predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DataOption, DataSetOption, DebugOption, ForceOption, JsonOption, RunArgument, notice, out, reported, say,
)
from lstmcast.cli.render import forecast_table


@app.command(short_help="Forecast the next steps, dated, in the data's units.")
def predict(
    run_dir: RunArgument,
    data: DataOption = None,
    horizon: Annotated[Optional[int], typer.Option(min=1, max=10_000, metavar="N",
                                                   help="Steps to forecast (default: the trained horizon).")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", metavar="CSV",
                                                     help="Also write the forecast to this CSV.")] = None,
    set_: DataSetOption = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Forecast the next steps after the CSV's last row, dated, in the data's own units.

    Examples:

      lstmcast predict runs/msft_many_to_one

      lstmcast predict runs/msft_many_to_one --horizon 10 --out forecast.csv

      lstmcast predict runs/msft_many_to_one --data new_download.csv --json
    """
    from lstmcast.workflows.predict import predict_run, write_forecast  # torch loads here, not at --help

    with reported(debug):
        forecast = predict_run(run_dir, data_path=data, horizon=horizon, overrides=list(set_ or []))
        for message in forecast.notices:
            notice(message)
        if out_file is not None:
            write_forecast(out_file, forecast, force=force)
        if json_:
            out.print_json(json.dumps({
                "target": forecast.target, "last_date": str(forecast.last_date), "last_value": forecast.last_value,
                "calendar": forecast.calendar,
                "forecast": [{"date": str(d), "value": v} for d, v in zip(forecast.dates, forecast.values)],
            }))
            return
        out.print(forecast_table(forecast))
        if out_file is not None:
            say(f"forecast written to {out_file}")
