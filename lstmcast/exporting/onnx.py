"""Writing the state-explicit graph (exporting.graph) as ONNX, and checking it with onnxruntime against the model.

The TorchScript-based exporter is used: on these unrolled graphs it takes seconds where the dynamo exporter took
tens of seconds, and both give the same operators (MatMul, Sigmoid, Tanh, Gather for embeddings)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from lstmcast.errors import ConfigError
from lstmcast.exporting.graph import Graph, names

OPSET = 17
TOLERANCE = 1e-5  # the largest |onnxruntime - torch| accepted, on values of order 1 (scaled data, states)


def require() -> None:
    """onnx and onnxruntime are optional: say how to get them."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError("lstmcast export --onnx needs onnx and onnxruntime: pip install 'lstmcast[onnx]'") from None


def write_onnx(model: nn.Module, path: Path, *, steps: int, columns: int) -> None:
    """The graph of `model` over windows of `steps` rows and `columns` columns, any batch size."""
    window, (h0, c0) = torch.zeros(2, steps, columns), _zeros(model, 2)
    inputs, outputs = names(model)
    batch = {"window": {0: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}, "forecast": {0: "batch"},
             "raw": {0: "batch"}} | {name: {1: "batch"} for name in outputs[2:]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing and its own deprecation
        torch.onnx.export(Graph(model), (window, h0, c0), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=batch, opset_version=OPSET, dynamo=False)


def check_onnx(path: Path, model: nn.Module, windows: Tensor) -> dict[str, float]:
    """Largest |onnxruntime - torch| per output on real windows, from a zero state and from the state the model
    reached (so the state inputs are exercised too). The reference is the model itself (nn.LSTM's fused kernels)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    differences: dict[str, float] = {}
    h0, c0 = _zeros(model, len(windows))
    with torch.no_grad():
        for _ in range(2):
            expected = _reference(model, windows, (h0, c0))
            feed = {"window": windows.numpy(), "h0": h0.numpy(), "c0": c0.numpy()}
            got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
            for name, value in expected.items():
                gap = float(np.abs(got[name] - value.numpy()).max()) if value.numel() else 0.0  # NaN stays NaN
                before = differences.get(name, 0.0)
                differences[name] = gap if np.isnan(gap) or np.isnan(before) else max(before, gap)
            h0, c0 = expected["h_n"], expected["c_n"]
    return differences


def _reference(model: nn.Module, windows: Tensor, state) -> dict[str, Tensor]:
    _, (h, c) = model.encode(windows, state)
    raw, last = model.emit(windows, state)
    found = {"forecast": model.distribution.point(raw), "raw": raw, "h_n": h, "c_n": c}
    if model.decoder is not None:
        found |= {"decoder_h_n": last[0], "decoder_c_n": last[1]}
    return found


def _zeros(model: nn.Module, batch: int) -> tuple[Tensor, Tensor]:
    encoder = model.encoder
    units = encoder.hidden_size
    return (torch.zeros(encoder.num_layers, batch, encoder.proj_size or units),
            torch.zeros(encoder.num_layers, batch, units))
