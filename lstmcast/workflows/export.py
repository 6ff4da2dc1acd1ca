"""lstmcast export RUN --onnx DIR: the run's model as an ONNX graph whose inputs and outputs include (h, c) of every
layer, checked with onnxruntime against the model on the run's own test windows before it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from lstmcast import __version__
from lstmcast.data.covariates import lead_columns
from lstmcast.errors import ConfigError, DataError, ModelFileError
from lstmcast.exporting.graph import names
from lstmcast.exporting.onnx import OPSET, TOLERANCE, check_onnx, require, write_onnx
from lstmcast.files.atomic import atomic_output
from lstmcast.outputs.exportfiles import is_export, write_export_json
from lstmcast.runs.load import Run, chosen_series, open_run, run_data, run_members

CHECK_WINDOWS = 256  # the last test windows (of every series of a panel) the export is checked on


@dataclass
class ExportOutcome:
    folder: Path
    description: dict[str, Any]


def export_run(run_dir: Path, out: Path, *, steps: Optional[int] = None, force: bool = False,
               data_path: Optional[Path] = None) -> ExportOutcome:
    """Write and check the graph; `steps` (at most the lookback) rows per window, the last ones of the checked
    windows; `data_path` the CSV to take the check's windows from (default the run's)."""
    require()
    run = open_run(run_dir)
    steps = steps or run.meta.lookback
    if steps > run.meta.lookback:
        raise ConfigError(f"--steps {steps}: at most the lookback the model was trained on ({run.meta.lookback}); "
                          "to run longer, carry the state between calls (--steps 1 gives a one-row graph)")
    windows = _check_windows(run, data_path)[:, -steps:].contiguous()
    columns = windows.shape[-1]
    with atomic_output(out, force=force, what="an ONNX export", recognise=is_export, directory=True) as folder:
        write_onnx(run.model, folder / "model.onnx", steps=steps, columns=columns)
        differences = check_onnx(folder / "model.onnx", run.model, windows)
        worst = max(differences.values(), default=float("nan"))
        if not worst <= TOLERANCE:  # NaN fails too
            raise ModelFileError(f"the exported graph differs from the model by {worst:.2g} (more than {TOLERANCE:g}) "
                                 f"on the run's windows ({differences}); nothing was written")
        description = _describe(run, steps, columns, differences, len(windows))
        write_export_json(folder, description)
    return ExportOutcome(out, description)


def _check_windows(run: Run, data_path: Optional[Path]) -> torch.Tensor:
    """The last test windows of the run's data as the model reads them (a panel: of each series); the last windows
    of any split when the data has no test window; refused when it has none at all."""
    if run.is_panel:
        members = run_members(run, chosen_series(run, None), data_path, command="lstmcast export")
        prepared = [member for _, member in members.values()]
    else:
        prepared = [run_data(run, data_path, command="lstmcast export")[1]]
    share = max(1, CHECK_WINDOWS // len(prepared))
    found = [p.windows((p.origins("test") if len(p.origins("test")) else p.origins("all"))[-share:])[0]
             for p in prepared]
    windows = torch.cat(found).contiguous()
    if not len(windows):
        raise DataError(f"the data has no complete window of {run.meta.lookback} rows to check the exported graph on; "
                        "give a longer CSV with --data")
    return windows


def _describe(run: Run, steps: int, columns: int, differences: dict[str, float], checked: int) -> dict[str, Any]:
    encoder, model = run.model.encoder, run.model
    layers, units = encoder.num_layers, encoder.hidden_size
    out_units, width = encoder.proj_size or units, model.distribution.width
    inputs, outputs = names(model)
    state = {"h": [layers, "batch", out_units], "c": [layers, "batch", units]}
    shapes = {"window": ["batch", steps, columns], "h0": state["h"], "c0": state["c"],
              "forecast": ["batch", run.meta.horizon], "raw": ["batch", run.meta.horizon, width],
              "h_n": state["h"], "c_n": state["c"], "decoder_h_n": state["h"], "decoder_c_n": state["c"]}
    return {
        "format": "lstmcast onnx export 1", "lstmcast_version": __version__, "run": str(run.path.absolute()),
        "model_kind": run.meta.model_kind, "opset": OPSET, "layers": layers,
        "inputs": {name: shapes[name] for name in inputs}, "outputs": {name: shapes[name] for name in outputs},
        "window_columns": {"values": run.meta.columns, "total": columns,
                           "note": "as the model reads them: values (scaled, transformed), then calendar features, "
                                   "then static codes (see meta.json)"},
        "units": "forecast (the head's point: mean, location or median) is in the model's scaled, transformed "
                 "units: undo the scaler, then the transform, anchored on the last observed value in the user's "
                 "units (a log_return forecast becomes last * exp(cumsum), pct_change last * cumprod(1 + r), diff "
                 "last + cumsum); raw is the head's linear output before its links (normal: loc, scale = softplus + "
                 "1e-4; student_t: loc, scale, df = softplus + 2; quantile: the median column, then softplus "
                 "increments, see lstmcast/models/heads.py); h0 and c0 are zeros for a forecast from a fresh "
                 "window, as `lstmcast predict` makes",
        "quantile_levels": list(run.config.model.head.levels or []),
        "calendar_columns": lead_columns(run.config.data), "static_codes": run.meta.panel.statics if run.meta.panel
        else {},
        "target": run.meta.target, "transforms": run.meta.transforms,
        "scaler": run.meta.scaler.model_dump(mode="json") if run.meta.scaler else "per series: see meta.json",
        "lookback": run.meta.lookback, "horizon": run.meta.horizon, "head": run.config.model.head.kind,
        "check": {"windows": checked, "tolerance": TOLERANCE, "max_abs_difference": differences,
                  "against": "the model in torch (nn.LSTM) on the run's last test windows (their last T rows), from "
                             "a zero state and from the state it reached"},
    }
