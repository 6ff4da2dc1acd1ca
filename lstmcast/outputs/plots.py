"""PNG plots for people: training curves, test forecasts, state heatmaps. matplotlib loads only when a plot is made."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lstmcast import __version__

SOFTWARE = f"lstmcast {__version__}"  # written into every PNG, so --force knows a plot it may replace


def _pyplot():
    import matplotlib  # 0.4 s to import: only when a plot is made

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Every text as written: a column name's control characters escaped, its '$' not read as mathtext."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        raw = text.get_text()
        text.set_text("".join(ch if ch.isprintable() or ch == "\n" else f"\\x{ord(ch):02x}" for ch in raw))
        text.set_parse_math(False)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": SOFTWARE})
    _pyplot().close(fig)


def is_plot(path: Path) -> bool:
    """A PNG whose Software text chunk says lstmcast wrote it."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
            for _ in range(64):  # text chunks come before the image data
                length, kind = struct.unpack(">I4s", handle.read(8))
                body = handle.read(length)
                handle.read(4)
                if kind == b"tEXt" and body.startswith(b"Software\x00lstmcast"):
                    return True
                if kind in (b"IDAT", b"IEND"):
                    return False
    except (OSError, struct.error):
        return False
    return False


def loss_curves(path: Path, epochs: Sequence[int], train: Sequence[float], validation: Sequence[float],
                *, best_epoch: int, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(epochs, train, label="train", marker=".")
    ax.plot(epochs, validation, label="validation", marker=".")
    ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set(xlabel="epoch", ylabel="loss (scaled units)", title=title)
    ax.set_yscale("log")
    ax.legend()
    _save(fig, path)


def forecast_vs_actual(path: Path, dates: pd.DatetimeIndex, actual: np.ndarray, series: dict[str, np.ndarray],
                       *, context_dates: pd.DatetimeIndex, context: np.ndarray, title: str, ylabel: str) -> None:
    """Actual values with one-step-ahead forecasts on top; a stretch of earlier history for context."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    ax.plot(context_dates, context, color="0.6", linewidth=1, label="history")
    ax.plot(dates, actual, color="black", linewidth=1.2, label="actual")
    for name, values in series.items():
        ax.plot(dates, values, linewidth=1, label=name, alpha=0.85)
    ax.set(title=title, ylabel=ylabel)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    _save(fig, path)


def states_overview(path: Path, *, dates: np.ndarray, prediction: np.ndarray, actual: np.ndarray, h: np.ndarray,
                    c: np.ndarray, history_dates: pd.DatetimeIndex, history: np.ndarray, target: str,
                    caption: str) -> None:
    """Price with one-step forecasts on top; beneath, heatmaps of h and c (units x time) for every layer.

    h [N, L, P] and c [N, L, U] are the states at each date (each window's last step, or the stream)."""
    import matplotlib.dates as mdates

    plt = _pyplot()
    layers = h.shape[1]
    fig, axes = plt.subplots(1 + 2 * layers, 1, figsize=(11, 2.6 + 2.1 * 2 * layers), dpi=100, sharex=True,
                             gridspec_kw={"height_ratios": [1.4] + [1] * (2 * layers)})
    start, end = dates[0], dates[-1]
    keep = (history_dates >= start) & (history_dates <= end)
    axes[0].plot(history_dates[keep], history[keep], color="black", linewidth=1, label=f"{target} (actual)")
    forecast_dates = pd.DatetimeIndex(dates) + (pd.DatetimeIndex(dates).to_series().diff().median() or pd.Timedelta(0))
    axes[0].plot(forecast_dates, prediction, linewidth=1, alpha=0.85, label="forecast, 1 step ahead")
    axes[0].set(title=caption, ylabel=target)
    axes[0].legend(loc="best", fontsize=8)
    extent = [mdates.date2num(pd.Timestamp(start)), mdates.date2num(pd.Timestamp(end))]
    for layer in range(layers):
        for row, (name, values) in enumerate((("h", h), ("c", c))):
            ax = axes[1 + 2 * layer + row]
            matrix = values[:, layer].T  # [units, time]
            bound = float(np.nanpercentile(np.abs(matrix), 99)) or 1.0  # colour scale per panel, robust to outliers
            image = ax.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest",
                              extent=[extent[0], extent[1], matrix.shape[0] - 0.5, -0.5])
            ax.set_ylabel(f"layer {layer}\n{name} unit", fontsize=8)
            fig.colorbar(image, ax=ax, pad=0.01, fraction=0.02)
    axes[-1].xaxis_date()
    fig.autofmt_xdate()
    _save(fig, path)


def error_by_step(path: Path, rmse: dict[str, list[float | None]], *, target: str) -> None:
    """RMSE at each horizon step, one line per model and baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, values in rmse.items():
        steps = np.arange(1, len(values) + 1)
        ax.plot(steps, [np.nan if v is None else v for v in values], marker="o", label=name,
                linestyle="--" if name in {"random_walk", "drift", "seasonal_naive", "historical_mean"} else "-")
    ax.set(xlabel="horizon step", ylabel=f"RMSE ({target})", title="Error by horizon step (walk-forward)")
    ax.set_xticks(np.arange(1, max(len(v) for v in rmse.values()) + 1))
    ax.legend(fontsize=8)
    _save(fig, path)
