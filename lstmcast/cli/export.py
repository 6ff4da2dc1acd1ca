"""lstmcast export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import DataOption, DebugOption, ForceOption, JsonOption, RunArgument, out, reported, say


@app.command(short_help="Write a run's model as ONNX, with every layer's (h, c) as inputs and outputs.")
def export(
    run: RunArgument,
    onnx: Annotated[Path, typer.Option("--onnx", metavar="DIR", help="Directory to write: model.onnx and "
                                       "export.json (signature, units, the check against the model).")],
    steps: Annotated[Optional[int], typer.Option(min=1, max=100_000, metavar="T",
                                                 help="Rows per window in the graph, at most the run's lookback (the "
                                                      "default); 1 gives a one-row step for streaming with the state "
                                                      "carried by the caller.")] = None,
    data: DataOption = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Export RUN's model to ONNX: inputs window [batch, T, columns], h0 and c0 [layers, batch, units]; outputs the
    forecast and the head's raw numbers (scaled units), and h_n, c_n of every layer (and the decoder's, seq2seq).
    The graph is checked with onnxruntime against the model on the run's last test windows (to 1e-5) before it is
    kept; --data gives another CSV with the run's columns for that check.
    Needs the onnx extra: pip install 'lstmcast[onnx]'.

    Examples:

      lstmcast export runs/msft --onnx exports/msft

      lstmcast export runs/msft --onnx exports/msft_step --steps 1    (one row at a time, state carried outside)
    """
    from lstmcast.workflows.export import export_run  # torch loads here, not at --help

    with reported(debug):
        outcome = export_run(run, onnx, steps=steps, force=force, data_path=data)
        description = outcome.description
        if json_:
            out.print_json(json.dumps({"folder": str(outcome.folder), **description}))
            return
        shapes = "; ".join(f"{name} {shape}" for name, shape in {**description["inputs"],
                                                                 **description["outputs"]}.items())
        check = description["check"]
        worst = max(check["max_abs_difference"].values(), default=None)
        said = f"checked on {check['windows']} windows: largest |onnxruntime - torch| {worst:.2g}"
        say(f"{outcome.folder / 'model.onnx'}: {shapes}")
        say(f"{said}; units and scaler in {outcome.folder / 'export.json'}")
