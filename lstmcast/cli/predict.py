"""lstmcast predict."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DataOption, DataSetOption, DebugOption, ForceOption, JsonOption, RunArgument, as_date, date_option, notice, out,
    parse_levels, parse_series, reported, say,
)
from lstmcast.cli.render import forecast_table
from lstmcast.errors import ConfigError


@app.command(short_help="Forecast the next steps, dated, in the data's units.")
def predict(
    run_dir: RunArgument,
    data: DataOption = None,
    horizon: Annotated[Optional[int], typer.Option(min=1, max=10_000, metavar="N",
                                                   help="Steps to forecast (default: the trained horizon).")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", metavar="CSV",
                                                     help="Also write the forecast to this CSV (- : standard "
                                                          "output, instead of the table).")] = None,
    as_of: Annotated[Optional[dt.datetime], date_option(
        "--as-of", "Forecast from the rows up to this date, as if it were today (later rows give the actuals).")
    ] = None,
    series: Annotated[Optional[str], typer.Option(
        "--series", metavar="NAME", help="The series of a long file to forecast (data.series), e.g. another ticker "
                                         "with the same columns.")] = None,
    levels: Annotated[Optional[str], typer.Option(
        "--levels", metavar="L[,L...]", help="Also give central prediction intervals at these coverage levels in "
                                             "percent, e.g. 80,95 (conformal: around a point head's forecast, on a "
                                             "probabilistic head's sample paths).")] = None,
    samples: Annotated[Optional[int], typer.Option(
        "--samples", min=10, max=1_000_000, metavar="N",
        help="Probabilistic heads: sample paths behind the intervals (default 1000).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1,
                                      help="Probabilistic heads: seed of the sample paths (same seed, same "
                                           "intervals).")] = 0,
    plot: Annotated[Optional[Path], typer.Option("--plot", metavar="PNG",
                                                 help="Also draw the recent history and the forecast.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Forecast from the state carried row by row over the "
                                         "whole CSV from its first row (stateful), not from the last lookback "
                                         "window.")] = False,
    from_state: Annotated[Optional[Path], typer.Option("--from-state", metavar="FILE", help="Continue a --stream "
                                                       "from a state saved with --save-state, reading only the "
                                                       "CSV's rows after it.")] = None,
    save_state: Annotated[Optional[Path], typer.Option("--save-state", metavar="FILE", help="With --stream or "
                                                       "--from-state: save the state after the last row read.")
                          ] = None,
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

      lstmcast predict runs/msft_many_to_one --as-of 2016-06-30 --plot june.png

      lstmcast predict runs/msft_student_t --levels 80,95 --samples 5000 --seed 1

      cat new_download.csv | lstmcast predict runs/msft_many_to_one --data - --out -

      lstmcast predict runs/stocks_panel --series AAPL,MSFT --out forecasts.csv    (a panel run: every series, or these)

      lstmcast predict runs/msft_many_to_one --stream --save-state msft.state    (then, each day:)
      lstmcast predict runs/msft_many_to_one --from-state msft.state --data today.csv --save-state msft.state --force
    """
    from lstmcast.outputs.forecastfiles import (  # torch loads here, not at --help
        check_outputs, forecast_text, write_forecast, write_forecast_plot,
    )
    from lstmcast.runs.load import is_panel_run
    from lstmcast.workflows.predict import predict_run

    with reported(debug):
        to_stdout = out_file is not None and str(out_file) == "-"
        if to_stdout and json_:
            raise ConfigError("--out - and --json both write to standard output; choose one")
        check_outputs(out_file, plot, force=force)
        panel = is_panel_run(run_dir)
        if stream or from_state is not None or save_state is not None:
            forecasts = [_stream_forecast(run_dir, data=data, horizon=horizon, set_=set_, stream=stream,
                                          from_state=from_state, save_state=save_state, force=force,
                                          refused={"--as-of": as_of, "--series": series, "--levels": levels,
                                                   "--samples": samples})]
        elif panel:
            forecasts = _panel_forecasts(run_dir, data=data, horizon=horizon, as_of=as_date(as_of),
                                         levels=parse_levels(levels), samples=samples, seed=seed, series=series,
                                         set_=set_, plot=plot)
        else:
            overrides = list(set_ or []) + ([f"data.series={series}"] if series is not None else [])
            forecasts = [predict_run(run_dir, data_path=data, horizon=horizon, overrides=overrides,
                                     as_of=as_date(as_of), levels=parse_levels(levels), samples=samples, seed=seed)]
        for forecast in forecasts:
            for message in forecast.notices:
                notice(f"{forecast.series}: {message}" if panel else message)
        if out_file is not None and not to_stdout:
            write_forecast(out_file, forecasts, panel=panel, force=force)
        if plot is not None:
            write_forecast_plot(plot, forecasts[0], force=force)
        if to_stdout:
            sys.stdout.write(forecast_text(forecasts, panel=panel))
        elif json_:
            printed = {"forecasts": [f.as_json() for f in forecasts]} if panel else forecasts[0].as_json()
            out.print_json(json.dumps(printed))
        else:
            for forecast in forecasts:
                out.print(forecast_table(forecast))
        for written, what in ((None if to_stdout else out_file, "forecasts" if panel else "forecast"), (plot, "plot")):
            if written is not None:
                say(f"{what} written to {written}")


def _stream_forecast(run_dir: Path, *, data, horizon, set_, stream: bool, from_state: Optional[Path],
                     save_state: Optional[Path], force: bool, refused: dict):
    from lstmcast.workflows.stream import StreamRequest, stream_predict

    given = [name for name, value in refused.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: not with --stream/--from-state (a stream forecast reads every row up "
                          "to the last, from one series, with no interval calibrated for it)")
    if save_state is not None and not (stream or from_state is not None):
        raise ConfigError("--save-state saves the state of a stream: add --stream (from the CSV's first row) or "
                          "--from-state FILE")
    if stream and from_state is not None:
        raise ConfigError("--stream starts from the CSV's first row and --from-state from a saved state: choose one")
    request = StreamRequest(run_dir=run_dir, data_path=data, from_state=from_state, save_state=save_state,
                            horizon=horizon, overrides=list(set_ or []), force=force)
    return stream_predict(request).forecast


def _panel_forecasts(run_dir: Path, *, data, horizon, as_of, levels, samples, seed, series: Optional[str], set_,
                     plot: Optional[Path]) -> list:
    """A panel run's forecasts: every series, or those named in --series A,B (one, with --plot)."""
    from lstmcast.workflows.predict import predict_panel

    names = parse_series(series)
    if plot is not None and (names is None or len(names) != 1):
        raise ConfigError("--plot draws one series; name it with --series NAME")
    return predict_panel(run_dir, data_path=data, horizon=horizon, overrides=list(set_ or []), as_of=as_of,
                         levels=levels, samples=samples, seed=seed, series=names)
