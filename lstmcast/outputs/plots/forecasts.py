"""Forecasts against what happened: one-step-ahead forecasts over a test period (a readable recent window, the full
period as an overview, the error against the random walk beneath), and a dated forecast after recent history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from lstmcast.outputs.plots.base import dated, plain_numbers, pyplot, save

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WINDOW = 120  # dates in the main panel of forecast_vs_actual: daily prices stay readable, lines stay apart
SHADE = dict(color="tab:orange", alpha=0.15, linewidth=0)


def forecast_vs_actual(path: Path, dates: pd.DatetimeIndex, actual: np.ndarray, series: dict[str, np.ndarray],
                       *, context_dates: pd.DatetimeIndex, context: np.ndarray, title: str, ylabel: str,
                       reference: str = "random walk", window: int = WINDOW) -> "Figure":
    """Top: the last `window` dates, actual values and each forecast (`series[reference]` dashed grey). Middle: the
    full period with earlier history, the window shaded. Bottom: each forecast's cumulative squared error minus the
    reference's over the full period (falling: the forecast beats the reference there)."""
    plt = pyplot()
    dates = pd.DatetimeIndex(dates)
    fig = plt.figure(figsize=(11, 7.4), dpi=110)
    grid = fig.add_gridspec(3, 1, height_ratios=[3.2, 1.1, 1.5])
    main = fig.add_subplot(grid[0])
    overview = fig.add_subplot(grid[1])
    error = fig.add_subplot(grid[2], sharex=overview)
    shown = slice(max(0, len(dates) - window), None)
    span = (dates[shown][0], dates[-1])
    _draw_window(main, dates[shown], np.asarray(actual)[shown], {k: np.asarray(v)[shown] for k, v in series.items()},
                 reference=reference)
    main.set_ylabel(ylabel)
    main.set_title(f"the last {len(dates[shown])} of {len(dates)} dates, {span[0].date()} .. {span[1].date()}",
                   fontsize=10, loc="left")
    overview.plot(context_dates, context, color="0.6", linewidth=0.8, label="history")
    overview.plot(dates, actual, color="black", linewidth=0.8, label="actual")
    overview.axvspan(*span, **SHADE, label="shown above")
    overview.set_ylabel(ylabel, fontsize=8)
    overview.legend(loc="upper left", fontsize=7, ncol=3, frameon=False)
    overview.tick_params(labelbottom=False, labelsize=8)
    _draw_error(error, dates, np.asarray(actual), series, reference=reference, units=f"{ylabel}²")
    error.axvspan(*span, **SHADE)
    fig.suptitle(title)
    for ax in (main, overview, error):
        dated(ax)
        plain_numbers(ax.yaxis)
        ax.grid(True, alpha=0.3)
    return save(fig, path)


def _draw_window(ax: Any, dates: pd.DatetimeIndex, actual: np.ndarray, series: dict[str, np.ndarray], *,
                 reference: str) -> None:
    ax.plot(dates, actual, color="black", linewidth=1.2, marker=".", markersize=4, label="actual", zorder=5)
    for name, values in series.items():
        if name == reference:  # thin dashes on top: where a forecast hides under them, it is the random walk
            ax.plot(dates, values, color="0.35", linewidth=1, linestyle=(0, (3, 2)), label=name, zorder=4)
        else:
            ax.plot(dates, values, linewidth=2, alpha=0.8, label=name, zorder=3)
    half = (dates[-1] - dates[0]) / max(1, len(dates) - 1) / 2 if len(dates) > 1 else pd.Timedelta(days=1)
    ax.set_xlim(dates[0] - half, dates[-1] + half)  # the window only: no margin of dates it does not show
    ax.legend(loc="best", fontsize=8)


def _draw_error(ax: Any, dates: pd.DatetimeIndex, actual: np.ndarray, series: dict[str, np.ndarray], *,
                reference: str, units: str) -> None:
    """Cumulative (error^2 - reference error^2); without a reference, each forecast's cumulative squared error."""
    base = (np.asarray(series[reference]) - actual) ** 2 if reference in series else 0.0
    for index, (name, values) in enumerate(series.items()):
        if name != reference:
            gap = np.nan_to_num((np.asarray(values) - actual) ** 2 - base)
            ax.plot(dates, np.cumsum(gap), linewidth=1.2, color=f"C{index}", label=name)
    ax.axhline(0, color="0.5", linewidth=1, linestyle="--")
    shown = reference.replace("_", " ")
    if reference in series:
        ax.set_title(f"cumulative squared error minus the {shown}'s (falling: better than the {shown} there; "
                     "below 0: better so far)", fontsize=9, loc="left")
    else:
        ax.set_title("cumulative squared error", fontsize=9, loc="left")
    ax.set_ylabel(f"{'difference' if reference in series else 'sum'}\n({units})", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(loc="best", fontsize=7)


def forecast_with_history(path: Path, *, history_dates: pd.DatetimeIndex, history: np.ndarray,
                          forecast_dates: pd.DatetimeIndex, forecast: np.ndarray, target: str, title: str,
                          actual: Optional[Sequence[Optional[float]]] = None,
                          intervals: Optional[dict[str, tuple[Sequence, Sequence]]] = None) -> "Figure":
    """The last max(60, 3 x horizon) observations, then the forecast (markers joined to the last observation), a
    line at the last data date; `actual` (None where unknown) marks what happened at the forecast dates, and
    `intervals` ({"80": (lower, upper)}, None past the trained horizon) shade a fan, widest palest."""
    plt = pyplot()
    history_dates, forecast_dates = pd.DatetimeIndex(history_dates), pd.DatetimeIndex(forecast_dates)
    history, forecast = np.asarray(history, dtype=float), np.asarray(forecast, dtype=float)
    shown = slice(max(0, len(history) - max(60, 3 * len(forecast))), None)
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    ax.plot(history_dates[shown], history[shown], color="black", linewidth=1.2, label=f"{target} (data)")
    joined_dates = history_dates[-1:].append(forecast_dates)
    ax.plot(joined_dates, np.concatenate([history[-1:], forecast]), color="tab:blue", linewidth=1.2,
            linestyle="--", marker="o", markersize=4, markevery=list(range(1, len(joined_dates))), label="forecast")
    for rank, (level, (lower, upper)) in enumerate(sorted((intervals or {}).items(), key=lambda i: -float(i[0]))):
        low, high = (np.array([np.nan if v is None else v for v in bound], dtype=float) for bound in (lower, upper))
        ax.fill_between(forecast_dates, low, high, color="tab:blue", alpha=0.12 + 0.12 * rank, linewidth=0,
                        label=f"{level}% interval")
    if actual is not None:
        known = np.array([np.nan if v is None else v for v in actual], dtype=float)[: len(forecast_dates)]
        ax.plot(forecast_dates[: len(known)], known, color="black", linestyle="none", marker="x", markersize=6,
                label="actual")
    last = history_dates[-1]
    ax.axvline(last, color="0.5", linewidth=1, linestyle=":", label=f"last data {last.date()}")
    ax.set(ylabel=target, title=title)
    dated(ax)
    plain_numbers(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)
