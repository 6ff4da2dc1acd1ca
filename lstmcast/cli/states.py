"""lstmcast dump-states."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DataOption, DataSetOption, DebugOption, ForceOption, JsonOption, RunArgument, as_date, chunk_progress,
    date_option, err, notice, out, parse_series, reported, say,
)
from lstmcast.cli.render import layers_table
from lstmcast.errors import ConfigError


class Format(str, enum.Enum):
    npz = "npz"
    npy = "npy"
    parquet = "parquet"
    lstmvis = "lstmvis"


class Mode(str, enum.Enum):
    windows = "windows"
    stream = "stream"


@app.command("dump-states", short_help="Write every layer's h and c (and gates) at every step.")
def dump_states(
    run_dir: RunArgument,
    data: DataOption = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", metavar="PATH", help="Output path (default: inside "
                                                     "RUN; a .npz or .parquet suffix picks that format).")] = None,
    fmt: Annotated[Optional[Format], typer.Option("--format", help="npz (one file), npy (a folder, memory-mappable), "
                                                  "parquet (a tidy table), lstmvis (for the LSTMVis viewer; use "
                                                  "--mode stream). Default: npz under 512 MiB, else npy.")] = None,
    mode: Annotated[Optional[Mode], typer.Option(help="windows (the default): what the model sees for each "
                                                 "forecast; stream: one pass over the whole series from its first "
                                                 "row, the decoder's horizon at every step too.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Short for --mode stream.")] = False,
    gates: Annotated[bool, typer.Option("--gates", help="Also record the i, f, g, o gate activations.")] = False,
    date_from: Annotated[Optional[dt.datetime], date_option("--from", "First window end (or stream date) "
                                                            "written.")] = None,
    date_to: Annotated[Optional[dt.datetime], date_option("--to", "Last window end (or stream date) written.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", metavar="PNG", help="Also draw prices, forecasts and h "
                                                 "and c heatmaps.")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, max=65536, metavar="N", help="Windows (stream: steps) per "
                                            "chunk; bounds memory.")] = 512,
    series: Annotated[Optional[str], typer.Option("--series", metavar="ID[,ID...]", help="Panel runs: the series "
                                                  "to record (default: all), each with its own scaler and "
                                                  "embeddings; the dump's `series` array says whose each window "
                                                  "is.")] = None,
    set_: DataSetOption = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Write every layer's hidden and cell states (and optionally gates) at every step, with the predictions.

    Examples:

      lstmcast dump-states runs/msft_many_to_one --from 2017-01-01 --gates --plot states.png

      lstmcast dump-states runs/msft_seq2seq --stream --out states.parquet    (--stream: --mode stream)

      lstmcast dump-states runs/msft_many_to_one --mode stream --format lstmvis --out lstmvis/

      lstmcast dump-states runs/stocks_panel --series AAPL,MSFT --from 2012-01-03
    """
    from lstmcast.workflows.dump import DumpRequest, dump_states as run_dump  # torch loads here

    with reported(debug):
        if out_path is not None and str(out_path) == "-":
            raise ConfigError("--out -: a state dump is binary arrays (or a folder), not text for standard output; "
                              "give a path, or use --json for the summary")
        if stream and mode == Mode.windows:
            raise ConfigError("--stream is short for --mode stream; it contradicts --mode windows: choose one")
        mode = Mode.stream if stream else mode or Mode.windows
        request = DumpRequest(
            run_dir=run_dir, out=out_path, data_path=data, fmt=fmt.value if fmt else None, mode=mode.value,
            gates=gates, date_from=as_date(date_from), date_to=as_date(date_to), force=force, chunk_size=chunk_size,
            overrides=list(set_ or []), plot=plot,
            series=parse_series(series))
        with chunk_progress(enabled=not json_ and err.is_terminal, label="recording states") as on_progress:
            outcome = run_dump(request, on_progress=on_progress, notice=notice)
        if json_:
            out.print_json(json.dumps({"path": str(outcome.path), "format": outcome.fmt, "meta": outcome.meta}))
            return
        out.print(layers_table(outcome))
        check, timings = outcome.meta["self_check"], outcome.meta["timings"]
        say(f"self-check against nn.LSTM (output, h_n, c_n, forecast): max abs error {check['max_abs_error']:.2e} "
            f"({check['windows_checked']} windows)")
        say(f"states {timings['compute_s']:.2f} s, gates {timings['gates_s']:.2f} s (summed over the worker threads), "
            f"write {timings['write_s']:.2f} s, {timings['wall_s']:.2f} s in all; {outcome.meta['windows']} window(s) "
            f"x {outcome.meta['steps']} steps written to {outcome.path} ({outcome.fmt})")
        if plot is not None:
            say(f"plot written to {plot}")
