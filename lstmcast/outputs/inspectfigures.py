"""The figures of the inspection report, as Plotly figures (zoomable in the browser, drawn by the plotly.js embedded
in the page). Each takes plain arrays and tables; dates are ISO strings on the x axes.

Shape legend: N windows, L layers, P output units, U hidden_size, K horizon steps, T lookback steps."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

HEAT = "RdBu_r"
GATE_HEAT = "Viridis"
GATE_COLOURS = {"i": "#1f77b4", "f": "#d62728", "o": "#2ca02c"}
CONTROL_COLOURS = {"trained": "#1f77b4", "random LSTM": "#aaaaaa", "raw window": "#ff7f0e"}


def _go() -> Any:
    import plotly.graph_objects as go  # loaded on first use: only inspect draws with Plotly

    return go


def _subplots(**options: Any) -> Any:
    from plotly.subplots import make_subplots

    return make_subplots(**options)


def _heatmap(z: np.ndarray, dates: Sequence[str], order: np.ndarray, name: str, *, gate: bool = False) -> Any:
    """z [N, units] as a units-by-dates heatmap, units in `order` (labelled with their own numbers)."""
    go = _go()
    limit = float(np.nanmax(np.abs(z))) if z.size else 1.0
    return go.Heatmap(z=np.round(z[:, order].T, 4), x=list(dates), y=[f"u{u}" for u in order], name=name,
                      colorscale=GATE_HEAT if gate else HEAT, zmin=0 if gate else -limit, zmax=1 if gate else limit,
                      showscale=False, hovertemplate="%{x}<br>%{y}: %{z}<extra>" + name + "</extra>")


def timeline(dates: Sequence[str], prediction: np.ndarray, actual: np.ndarray, h: np.ndarray, c: np.ndarray,
             orders: Sequence[np.ndarray], target: str) -> Any:
    """The one-step forecast made at each origin beside the value it forecast, and beneath it, on the same date
    axis, h and c of every layer at that origin (units clustered)."""
    go, layers = _go(), h.shape[1]
    titles = [f"{target}: forecast made at each date for the next step, and the actual next value"]
    titles += [f"{kind} layer {layer}" for layer in range(layers) for kind in ("h", "c")]
    fig = _subplots(rows=1 + 2 * layers, cols=1, shared_xaxes=True, vertical_spacing=0.03, subplot_titles=titles,
                    row_heights=[1.4] + [1.0] * 2 * layers)
    fig.add_trace(go.Scatter(x=list(dates), y=actual, name="actual (next step)", line={"color": "black"}), 1, 1)
    fig.add_trace(go.Scatter(x=list(dates), y=prediction, name="forecast", line={"color": "#1f77b4"}), 1, 1)
    for layer in range(layers):
        h_order = orders[layer] if h.shape[2] == c.shape[2] else np.arange(h.shape[2])
        fig.add_trace(_heatmap(h[:, layer], dates, h_order, f"h layer {layer}"), 2 + 2 * layer, 1)
        fig.add_trace(_heatmap(c[:, layer], dates, orders[layer], f"c layer {layer}"), 3 + 2 * layer, 1)
    fig.update_layout(height=260 + 230 * 2 * layers, margin={"t": 40, "b": 30}, legend={"orientation": "h"})
    return fig


def gate_timeline(dates: Sequence[str], gates: dict[str, np.ndarray], orders: Sequence[np.ndarray]) -> Any:
    """The input, forget and output gates of every layer at each origin's last step, units as in the timeline."""
    layers = gates["f"].shape[1]
    titles = [f"{name} gate, layer {layer}" for layer in range(layers) for name in "ifo"]
    fig = _subplots(rows=3 * layers, cols=1, shared_xaxes=True, vertical_spacing=0.03, subplot_titles=titles)
    for layer in range(layers):
        for k, name in enumerate("ifo"):
            fig.add_trace(_heatmap(gates[name][:, layer], dates, orders[layer], f"{name} layer {layer}", gate=True),
                          1 + 3 * layer + k, 1)
    fig.update_traces(showscale=False)
    fig.data[0].update(showscale=True, colorbar={"title": "gate", "len": 0.3})
    fig.update_layout(height=200 * 3 * layers, margin={"t": 40, "b": 30})
    return fig


def saturation(table: pd.DataFrame) -> Any:
    """Karpathy et al.'s plot: each unit's share of steps left-saturated (x) against right-saturated (y), per gate."""
    go, layers = _go(), int(table["layer"].max()) + 1
    fig = _subplots(rows=1, cols=layers, subplot_titles=[f"layer {layer}" for layer in range(layers)])
    for layer in range(layers):
        for gate, colour in GATE_COLOURS.items():
            part = table[(table["layer"] == layer) & (table["gate"] == gate)]
            fig.add_trace(go.Scatter(x=part["left_saturated"], y=part["right_saturated"], mode="markers",
                                     marker={"color": colour, "size": 7, "opacity": 0.7}, name=f"{gate} gate",
                                     text=[f"unit {u}" for u in part["unit"]], showlegend=layer == 0), 1, layer + 1)
        fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0], mode="lines", line={"color": "#999", "dash": "dot"},
                                 showlegend=False, hoverinfo="skip"), 1, layer + 1)
    fig.update_xaxes(range=[-0.02, 1.02], title_text="share of steps < 0.1")
    fig.update_yaxes(range=[-0.02, 1.02], title_text="share of steps > 0.9")
    fig.update_layout(height=420, margin={"t": 40})
    return fig


def memory(reach: np.ndarray, half_lives: dict[int, float], reach_lags: dict[int, int]) -> Any:
    """How far back the gradient of each forecast step reaches (mean |d forecast / d input| by lag, relative to its
    peak), with each layer's median forget-gate half-life marked."""
    go = _go()
    fig = go.Figure()
    lags = np.arange(reach.shape[1])
    for k, profile in enumerate(reach):
        peak = profile.max() if profile.max() > 0 else 1.0
        fig.add_trace(go.Scatter(x=lags, y=profile / peak, name=f"step {k + 1} (1% at lag {reach_lags[k]})"))
    for layer, life in half_lives.items():
        if np.isfinite(life) and life <= lags[-1]:
            fig.add_vline(x=life, line_dash="dash", annotation_text=f"layer {layer} median half-life {life:.1f}")
    fig.update_layout(height=380, xaxis_title="lag (steps before the origin)", yaxis_title="|gradient| / peak",
                      yaxis_type="log", margin={"t": 30})
    return fig


def half_life_histogram(units: pd.DataFrame) -> Any:
    go = _go()
    fig = go.Figure()
    for layer, part in units.groupby("layer"):
        lives = np.log10(np.clip(part["half_life"].to_numpy(), 1e-3, 1e6))
        fig.add_trace(go.Histogram(x=lives, name=f"layer {layer}", opacity=0.6, nbinsx=30))
    fig.update_layout(barmode="overlay", height=320, xaxis_title="log10 forget-gate half-life (steps)",
                      yaxis_title="units", margin={"t": 30})
    return fig


def controls(table: pd.DataFrame, value: str, controls_: dict[str, str], title: str) -> Any:
    """Grouped bars per quantity: the best state's value beside the same statistic of each control."""
    go = _go()
    best = table.loc[table.groupby("quantity")[value].idxmax()].set_index("quantity")
    fig = go.Figure([go.Bar(x=best.index, y=best[value], name="trained (best layer)",
                            marker_color=CONTROL_COLOURS["trained"], text=best["state"])])
    for column, name in controls_.items():
        fig.add_trace(go.Bar(x=best.index, y=best[column], name=name, marker_color=CONTROL_COLOURS[name]))
    fig.update_layout(barmode="group", height=360, yaxis_title=title, margin={"t": 30})
    return fig


def attribution(mean_abs: np.ndarray, occlusion_steps: np.ndarray, columns: Sequence[str],
                column_share: np.ndarray) -> Any:
    """Integrated gradients by horizon step and lag (mean |attribution| over the attributed windows), occlusion by
    lag, and each column's share of the attribution."""
    go = _go()
    fig = _subplots(rows=1, cols=3, column_widths=[0.5, 0.3, 0.2], subplot_titles=[
        "integrated gradients: mean |attribution| by lag", "occlusion: mean |change| by lag", "share by column"])
    lags = np.arange(mean_abs.shape[1])
    fig.add_trace(go.Heatmap(z=mean_abs, x=lags, y=[f"step {k + 1}" for k in range(len(mean_abs))],
                             colorscale="Viridis", showscale=False), 1, 1)
    for k, profile in enumerate(occlusion_steps):
        fig.add_trace(go.Scatter(x=lags, y=profile, name=f"step {k + 1}"), 1, 2)
    fig.add_trace(go.Bar(x=list(columns), y=column_share, showlegend=False), 1, 3)
    fig.update_xaxes(title_text="lag", row=1, col=1)
    fig.update_xaxes(title_text="lag", row=1, col=2)
    fig.update_layout(height=380, margin={"t": 40})
    return fig


def drift(dates: Sequence[str], distance: np.ndarray, threshold: float) -> Any:
    go = _go()
    fig = go.Figure([go.Scatter(x=list(dates), y=distance, name="Mahalanobis distance to the training states")])
    fig.add_hline(y=threshold, line_dash="dash", annotation_text="99% of training states lie closer")
    fig.update_layout(height=320, yaxis_title="distance", margin={"t": 30})
    return fig
