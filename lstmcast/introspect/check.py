"""Every recording checks itself against the model's own fused call: nn.LSTM's `output` and `(h_n, c_n)`, and the
forecast; with gates, that they explain the states. The largest absolute error goes into the dump's metadata."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmcast.introspect.gates import gate_consistency
from lstmcast.introspect.record import Recording


@torch.inference_mode()
def check_windows(model: nn.Module, x: Tensor, recording: Recording) -> dict[str, float]:
    """A chunk of windows x [W, T, F]: the encoder's fused pass, the forecast, and the decoder's last state."""
    output, (h_n, c_n) = model.encode(x)
    last_h, last_c = recording.encoder.last()
    prediction, (dh, dc) = model(x)
    errors = {
        "output_vs_top_h": _gap(output, recording.encoder.h[:, :, -1]),
        "h_n_vs_last_h": _gap(h_n, last_h),
        "c_n_vs_last_c": _gap(c_n, last_c),
        "prediction": _gap(prediction, recording.prediction_scaled),
    }
    if recording.decoder is not None:
        decoder_h, decoder_c = recording.decoder.last()
        errors["decoder_h_n_vs_last_h"] = _gap(dh, decoder_h)
        errors["decoder_c_n_vs_last_c"] = _gap(dc, decoder_c)
    return errors


@torch.inference_mode()
def check_stream(model: nn.Module, x: Tensor, recording: Recording) -> dict[str, float]:
    """A stretch of the stream x [1, M, F], from the state it started in: the encoder's fused pass over it."""
    output, (h_n, c_n) = model.encode(x, recording.initial)
    h, c = recording.encoder.h, recording.encoder.c
    errors = {"output_vs_top_h": _gap(output[0], h[0, :, -1]), "h_n_vs_last_h": _gap(h_n[:, 0], h[0, -1]),
              "c_n_vs_last_c": _gap(c_n[:, 0], c[0, -1])}
    if model.decoder is None:
        errors["prediction"] = _gap(model.point_from(output[0]), recording.prediction_scaled)
    return errors


def check_gates(model: nn.Module, recording: Recording, *, stream: bool) -> dict[str, float]:
    errors = {"gates_explain_states": gate_consistency(model.encoder, recording.encoder, recording.initial)}
    if recording.decoder is not None and recording.decoder.gates:
        h, c = recording.encoder.h, recording.encoder.c
        handed = (h[0].transpose(0, 1), c[0].transpose(0, 1)) if stream else recording.encoder.last()
        errors["decoder_gates_explain_states"] = gate_consistency(model.decoder, recording.decoder, handed)
    return errors


def check_recorded(model: nn.Module, x: Tensor, recording: Recording, *, gates: bool,
                   stream: bool) -> dict[str, float]:
    """Every check that applies to a recorded chunk (windows or a stretch of the stream, with or without gates)."""
    found = (check_stream if stream else check_windows)(model, x, recording)
    return found | (check_gates(model, recording, stream=stream) if gates else {})


def worst(*found: dict[str, float]) -> dict[str, float]:
    """The largest error of each check over several chunks."""
    return {key: max(part.get(key, 0.0) for part in found) for key in set().union(*found)}


def _gap(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0
