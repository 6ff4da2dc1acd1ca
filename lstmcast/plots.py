"""PNG plots for people: training curves, test forecasts, state heatmaps. matplotlib loads only when a plot is made."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
