"""lstmcast inspect."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DataOption, DataSetOption, DebugOption, ForceOption, JsonOption, RunArgument, as_date, chunk_progress,
    date_option, err, notice, out, reported, say,
)


@app.command(short_help="Write an HTML report of what the model's states do (and the numbers behind it).")
def inspect(
    run_dir: RunArgument,
    data: DataOption = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Folder to write: report.html, "
                                                     "summary.json and the tables as CSV (default RUN/inspect).")
                        ] = None,
    date_from: Annotated[Optional[dt.datetime], date_option("--from", "First forecast origin inspected (default: "
                                                            "the first test window's).")] = None,
    date_to: Annotated[Optional[dt.datetime], date_option("--to", "Last forecast origin inspected.")] = None,
    series: Annotated[Optional[str], typer.Option("--series", metavar="ID", help="Panel runs: the series to "
                                                  "inspect.")] = None,
    attributed: Annotated[int, typer.Option("--attribution-windows", min=1, max=4096, metavar="N",
                                            help="Windows, evenly spaced over the period, whose forecasts are "
                                                 "attributed to their inputs.")] = 32,
    set_: DataSetOption = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Inspect a run on a period: one self-contained HTML report (open it in any browser, offline) with the
    forecasts beside every layer's h, c and gates, gate saturation and forget-gate half-lives, what units track
    (against a random LSTM and the raw window), linear probes, integrated gradients and occlusion, and how far the
    states drift from training; the numbers behind it are CSV and JSON files in the same folder.

    Examples:

      lstmcast inspect runs/msft --from 2015-11-01

      lstmcast inspect runs/stocks_panel --series AAPL --out reports/aapl
    """
    from lstmcast.workflows.inspect import InspectRequest, inspect_run  # torch loads here

    with reported(debug):
        request = InspectRequest(run_dir=run_dir, out=out_path, data_path=data, date_from=as_date(date_from),
                                 date_to=as_date(date_to), series=series, attributed=attributed, force=force,
                                 overrides=list(set_ or []))
        with chunk_progress(enabled=not json_ and err.is_terminal, label="recording states") as on_progress:
            outcome = inspect_run(request, on_progress=on_progress, notice=notice)
        summary = outcome.summary
        if json_:
            out.print_json(json.dumps({"folder": str(outcome.folder), **summary}, default=str))
            return
        drift = summary["drift"]
        say(f"{summary['windows']} origins {summary['first_origin']} .. {summary['last_origin']}; integrated "
            f"gradients complete to {summary['integrated_gradients']['max_relative_residual']:.1e} (relative); last "
            f"state's drift: distance {drift['last_distance']:.2f}, training quantile "
            f"{drift['last_training_quantile']:.3f}")
        for line in summary["notes"]:
            notice(line)
        say(f"report written to {outcome.folder / 'report.html'} ({summary['seconds']:.1f} s)")
