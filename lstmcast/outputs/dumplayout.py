"""The arrays of a state dump: their shapes and dtypes (specs), and what each axis means (axes, in every dump's meta).

Windows mode: W windows of T lookback steps. Stream mode: one pass over the series, of which S steps are written
(window axis of length 1); every step is an origin, with the forecast its state implies. K horizon, L layers,
U hidden_size, P output units (proj_size or U), F input columns."""

from __future__ import annotations

from dataclasses import dataclass

from lstmcast.outputs.dumpfiles import Spec

GATE_NAMES = ("i", "f", "g", "o")


@dataclass(frozen=True)
class Shape:
    windows: int  # W (1 in stream mode)
    steps: int  # T (S in stream mode)
    layers: int
    h_units: int  # P
    c_units: int  # U
    features: int
    horizon: int
    stream: bool
    gates: bool
    decoder: bool
    series: bool = False  # a panel's dump: each window (stream: step) says its series


def specs(s: Shape) -> dict[str, Spec]:
    lead = (s.windows, s.steps) if s.stream else (s.windows,)  # the axes in front of each forecast's horizon
    out = {
        "h": Spec((s.windows, s.steps, s.layers, s.h_units), "float32"),
        "c": Spec((s.windows, s.steps, s.layers, s.c_units), "float32"),
        "step_date": Spec((s.windows, s.steps), "datetime64[s]"),
        "inputs_raw": Spec((s.windows, s.steps, s.features), "float64"),
        "inputs_scaled": Spec((s.windows, s.steps, s.features), "float32"),
        "prediction_scaled": Spec((*lead, s.horizon), "float32"),
        "prediction": Spec((*lead, s.horizon), "float64"),
        "target_scaled": Spec((*lead, s.horizon), "float32"),
        "target": Spec((*lead, s.horizon), "float64"),
        "target_date": Spec((*lead, s.horizon), "datetime64[s]"),
        "head_input": Spec((*lead, s.horizon, s.h_units) if s.decoder else (*lead, s.h_units), "float32"),
    }
    if not s.stream:
        out["origin_date"] = Spec((s.windows,), "datetime64[s]")
    if s.series:
        out["series"] = Spec((s.windows, s.steps) if s.stream else (s.windows,), "int32")
    if s.gates:
        out |= {f"gate_{g}": Spec((s.windows, s.steps, s.layers, s.c_units), "float32") for g in GATE_NAMES}
    if s.decoder:
        out["decoder_h"] = Spec((*lead, s.horizon, s.layers, s.h_units), "float32")
        out["decoder_c"] = Spec((*lead, s.horizon, s.layers, s.c_units), "float32")
        out["decoder_input"] = Spec((*lead, s.horizon), "float32")
        if s.gates:
            out |= {f"decoder_gate_{g}": Spec((*lead, s.horizon, s.layers, s.c_units), "float32") for g in GATE_NAMES}
    return out


def axes(*, decoder: bool, series: bool = False) -> dict[str, str]:
    described = {
        "h": "[window, step, layer, unit] hidden state h_t (= the layer's output) after each step",
        "c": "[window, step, layer, unit] cell state c_t",
        "gate_i/gate_f/gate_g/gate_o": "[window, step, layer, unit] input, forget, cell-candidate, output gates",
        "step_date": "[window, step] date of each step",
        "origin_date": "[window] date of the window's last observation (the forecast origin); windows mode only",
        "inputs_raw / inputs_scaled": "[window, step, feature] the user's values / what the model read",
        "prediction / target": "[window, horizon] in the user's units (target NaN past the data)",
        "prediction_scaled / target_scaled": "[window, horizon] in the model's scaled units",
        "target_date": "[window, horizon] dates of the forecast steps (the data's calendar past its end)",
        "head_input": ("[window, horizon, unit] the decoder's top-layer output at each horizon step" if decoder else
                       "[window, unit] the top layer's output at the last step (h[:, -1, -1], i.e. h_n[-1])"),
        "stream mode": "window axis of length 1; every step is an origin: prediction, target, target_date, "
                       "head_input and the decoder arrays carry a step axis after it ([1, step, horizon, ...])",
    }
    if series:
        described["series"] = ("[window] (stream: [window, step]) the position of its series in meta's `series` list; "
                               "each series' windows (stream: its steps from its own first row) follow the last's")
    if decoder:
        described["decoder_h / decoder_c / decoder_gate_*"] = "[window, horizon, layer, unit] decoder states per step"
        described["decoder_input"] = "[window, horizon] what each decoder step was fed (its previous prediction)"
    return described
