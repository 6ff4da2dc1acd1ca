"""dump-states --plot: the series with its one-step forecasts above heatmaps of every layer's states (and gates), all
on one time axis: every row has the same width because every row has a colorbar column, empty for the line panels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from lstmcast.files.atomic import atomic_output
from lstmcast.outputs.plots.base import dated, is_plot, plain_numbers, pyplot, save

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROW_INCHES = 1.5  # height of a heatmap row; the price panel is 1.5 rows, the gate-means panel 0.9
GATE_WORDS = {"i": "input", "f": "forget", "g": "cell candidate", "o": "output"}


def states_overview(path: Path, *, dates: np.ndarray, prediction: np.ndarray, actual: np.ndarray, h: np.ndarray,
                    c: np.ndarray, history_dates: pd.DatetimeIndex, history: np.ndarray, target: str,
                    caption: str, gates: Optional[dict[str, np.ndarray]] = None) -> "Figure":
    """Price with one-step forecasts; beneath, per layer, heatmaps (units x time) of h, c and, when recorded, the
    forget gate; last, the mean forget and input gate of each layer over time.

    h [N, L, P], c [N, L, U] and gates {"f": [N, L, U], "i": ...} are the values at each date (each window's last step,
    or the stream's); `actual` (the one-step targets) is not drawn: the history line shows the same values."""
    gates = {name: values for name, values in (gates or {}).items() if len(values)}
    heatmaps = _heatmaps(h, c, gates)
    means = [name for name in ("f", "i") if name in gates]
    heights = [1.5] + [1.0] * len(heatmaps) + ([0.9] if means else [])
    fig = pyplot().figure(figsize=(11, 0.8 + ROW_INCHES * sum(heights)), dpi=100)
    grid = fig.add_gridspec(len(heights), 2, width_ratios=[1, 0.015], height_ratios=heights)  # tight_layout spaces
    times = _date_numbers(dates)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    edges = (times[0] - step / 2, times[-1] + step / 2)  # each column of a heatmap centred on its date
    price = fig.add_subplot(grid[0, 0])
    _draw_price(price, dates, prediction, history_dates, history, target=target, step=step)
    price.set_title(caption)
    axes = [price]
    for row, (label, matrix, style) in enumerate(heatmaps, start=1):
        ax = fig.add_subplot(grid[row, 0], sharex=price)
        image = ax.imshow(matrix.T, aspect="auto", interpolation="nearest",
                          extent=[edges[0], edges[1], matrix.shape[1] - 0.5, -0.5], **style)
        fig.colorbar(image, cax=fig.add_subplot(grid[row, 1])).ax.tick_params(labelsize=7)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        axes.append(ax)
    if means:
        axes.append(fig.add_subplot(grid[len(heights) - 1, 0], sharex=price))
        _draw_gate_means(axes[-1], times, gates, means)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    price.set_xlim(*edges)
    axes[-1].xaxis_date()
    dated(axes[-1])
    return save(fig, path)


def _heatmaps(h: np.ndarray, c: np.ndarray, gates: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray, dict]]:
    """(label, [N, units] matrix, imshow colours) per heatmap row: h, c and the forget gate of each layer in turn."""
    rows = []
    for layer in range(h.shape[1]):
        for name, values in (("h", h), ("c", c)):
            matrix = values[:, layer]
            bound = float(np.nanpercentile(np.abs(matrix), 99)) if matrix.size else 1.0
            rows.append((f"layer {layer}\n{name} unit", matrix,
                         dict(cmap="RdBu_r", vmin=-(bound or 1.0), vmax=bound or 1.0)))  # robust to outliers
        if "f" in gates:
            rows.append((f"layer {layer}\nforget gate", gates["f"][:, layer], dict(cmap="viridis", vmin=0, vmax=1)))
    return rows


def _date_numbers(dates: np.ndarray) -> np.ndarray:
    import matplotlib.dates as mdates

    return np.asarray(mdates.date2num(pd.DatetimeIndex(dates).to_pydatetime()), dtype=float)


def _draw_price(ax: Any, dates: np.ndarray, prediction: np.ndarray, history_dates: pd.DatetimeIndex,
                history: np.ndarray, *, target: str, step: float) -> None:
    """The target over the dumped dates, and each one-step forecast at the date it is for (one step later)."""
    dates = pd.DatetimeIndex(dates)
    keep = (history_dates >= dates[0]) & (history_dates <= dates[-1])
    ax.plot(history_dates[keep], history[keep], color="black", linewidth=1, label=f"{target} (actual)")
    ahead = dates.to_series().diff().median() if len(dates) > 1 else pd.Timedelta(days=step)
    ax.plot(dates + ahead, prediction, linewidth=1, alpha=0.85, label="forecast, 1 step ahead")
    ax.set_ylabel(target)
    plain_numbers(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _draw_gate_means(ax: Any, times: np.ndarray, gates: dict[str, np.ndarray], names: list[str]) -> None:
    """Each layer's gate averaged over units: near 1, the forget gate keeps c; the input gate lets new input in."""
    for layer in range(gates[names[0]].shape[1]):
        for name, style in zip(names, ("-", "--")):
            ax.plot(times, gates[name][:, layer].mean(axis=1), linestyle=style, color=f"C{layer}", linewidth=1.1,
                    label=f"layer {layer} {GATE_WORDS[name]}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean gate", fontsize=8)
    ax.tick_params(labelsize=7)
    plain_numbers(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=2 * len(names), frameon=False)


def write_states_plot(path: Path, data: dict[str, Any], meta: dict[str, Any], *, force: bool) -> None:
    """dump-states --plot: the sampled states and forecasts of a dump (`data`), written atomically to `path`."""
    gates = {name: data[f"last_{name}"] for name in "fi" if len(data[f"last_{name}"])}  # with --gates
    with atomic_output(path, force=force, what="a plot", recognise=is_plot, suffix=".png") as temp:
        states_overview(
            temp, dates=data["dates"], prediction=data["prediction"], actual=data["actual"], h=data["last_h"],
            c=data["last_c"], gates=gates or None,
            history_dates=data["history_dates"], history=data["history"], target=data["target"],
            caption=f"{meta['model_kind']} on {data['target']}: "
                    + ("the stream's states" if meta["mode"] == "stream" else "each window's last-step states")
                    + (" and gates" if gates else ""),
        )
