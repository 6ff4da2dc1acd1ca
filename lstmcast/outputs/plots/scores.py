"""Plots of numbers about a model: its training curves, and its error by horizon step against the random walk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from lstmcast.outputs.plots.base import plain_numbers, pyplot, save

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HOPELESS = 3.0  # a forecaster whose RMSE is over 3x the random walk's at every step is left out of error_by_step
LOG_RATIO = 3.0  # loss curves get a log axis only when their largest and smallest values differ by more than this


def loss_curves(path: Path, epochs: Sequence[int], train: Sequence[float], validation: Sequence[float],
                *, best_epoch: int, title: str) -> "Figure":
    """Training and validation loss by epoch: whole epochs on x; y on a log axis with plain labels when the loss
    falls by more than LOG_RATIO, linear otherwise (a narrow log axis has no labelled ticks)."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(epochs, train, label="train", marker=".")
    ax.plot(epochs, validation, label="validation", marker=".")
    ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set(xlabel="epoch", ylabel="loss (scaled units)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = np.asarray([*train, *validation], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > LOG_RATIO:
        decades = np.log10(values.max() / values.min())
        subs = (1.0, 2.0, 3.0, 5.0, 7.0) if decades <= 1 else (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    plain_numbers(ax.yaxis)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return save(fig, path)


def error_by_step(path: Path, rmse: dict[str, list[Optional[float]]], *, target: str, reference: str = "random_walk",
                  baselines: Sequence[str] = ()) -> "Figure":
    """Each forecaster's RMSE over the reference's (the random walk's) at each horizon step, the reference a line at
    1. `baselines` are drawn dashed, models solid; a baseline over HOPELESS at every step is named in a note instead
    of drawn (a far-off line would set the axis and flatten the rest), while a model is always drawn."""
    from matplotlib.ticker import MaxNLocator

    relative, drawn, left_out = _relative(rmse, reference, set(baselines))
    shown = reference.replace("_", " ")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.3), dpi=110)
    ax.axhline(1.0, color="black", linewidth=1, linestyle=":", label=f"{shown} (= 1)")
    for name in drawn:
        model = name not in baselines
        ax.plot(np.arange(1, len(relative[name]) + 1), relative[name], marker="o" if model else ".", label=name,
                linestyle="-" if model else "--", linewidth=1.8 if model else 1.0, zorder=3 if model else 2)
    ax.set(xlabel="horizon step", ylabel=f"RMSE / RMSE of the {shown}\n(below 1: better)",
           title=f"{target}: RMSE by horizon step relative to the {shown} (walk-forward)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plain_numbers(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if left_out:
        ax.annotate(f"not drawn (RMSE over {HOPELESS:g}x the {shown}'s at every step): {', '.join(left_out)}",
                    xy=(0, 0), xycoords="axes fraction", xytext=(0, -34), textcoords="offset points", va="top",
                    fontsize=8, color="0.3")
    return save(fig, path)


def _relative(rmse: dict[str, list[Optional[float]]], reference: str,
              baselines: set[str]) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """(ratios by name, names to draw, hopeless baselines); ratios are NaN where a value or the reference is missing."""
    base = np.array([np.nan if v is None else v for v in rmse.get(reference, [])], dtype=float)
    relative, drawn, left_out = {}, [], []
    for name, values in rmse.items():
        if name == reference:
            continue
        raw = np.array([np.nan if v is None else v for v in values], dtype=float)
        steps = min(len(raw), len(base))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(base[:steps] > 0, raw[:steps] / base[:steps], np.nan)
        relative[name] = ratio
        known = ratio[np.isfinite(ratio)]
        hopeless = name in baselines and len(known) and (known > HOPELESS).all()
        (left_out if hopeless else drawn).append(name)
    return relative, drawn, left_out


def pit_histograms(path: Path, pits: dict[str, np.ndarray], p_values: dict[str, list[float]], *, target: str,
                   bins: int = 10, most_steps: int = 6) -> "Figure":
    """One small histogram of PIT values per forecaster (rows) and horizon step (columns; at most `most_steps`,
    spread over the horizon), with the uniform density as a line: a calibrated forecaster's bars lie flat on it, a
    U shape is overconfident, a hump underconfident, a slope biased. The chi-square p-value is in each title."""
    plt = pyplot()
    horizon = next(iter(pits.values())).shape[1]
    steps = sorted(set(np.linspace(0, horizon - 1, min(horizon, most_steps)).round().astype(int).tolist()))
    fig, axes = plt.subplots(len(pits), len(steps), figsize=(2.3 * len(steps) + 1, 1.9 * len(pits) + 0.8), dpi=100,
                             squeeze=False, sharex=True)
    for row, (name, values) in enumerate(pits.items()):
        for column, k in enumerate(steps):
            ax = axes[row][column]
            ax.hist(values[:, k], bins=bins, range=(0, 1), density=True, color="tab:blue", alpha=0.75)
            ax.axhline(1.0, color="black", linewidth=1, linestyle=":")
            p_value = p_values[name][k]
            ax.set_title(f"{name}, step {k + 1}\np = {p_value:.2g}", fontsize=8)
            ax.tick_params(labelsize=7)
            plain_numbers(ax.yaxis)
    fig.suptitle(f"{target}: PIT histograms (flat = calibrated; chi-square test of uniformity)", fontsize=10)
    return save(fig, path)


def series_skill(path: Path, skills: dict[str, float], *, pooled: Optional[float], title: str) -> "Figure":
    """A panel's skill against the random walk (1 - RMSE / RMSE of the walk) per series, as horizontal bars; zero is
    the walk, the dashed line the pooled skill. Shown for at most the 40 series of largest |skill|."""
    plt = pyplot()
    shown = sorted(skills.items(), key=lambda item: -abs(item[1]))[:40]
    shown.sort(key=lambda item: item[1])
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.3 * len(shown)), dpi=110)
    values = [100 * value for _, value in shown]
    ax.barh([name for name, _ in shown], values, color=["tab:green" if v > 0 else "tab:red" for v in values])
    ax.axvline(0, color="black", linewidth=0.8)
    if pooled is not None:
        ax.axvline(100 * pooled, color="grey", linestyle="--", label=f"pooled {100 * pooled:+.1f}%")
        ax.legend(loc="best")
    more = f" ({len(shown)} of {len(skills)} series)" if len(skills) > len(shown) else ""
    ax.set(xlabel="skill against the random walk (%)", title=title + more)
    fig.tight_layout()
    return save(fig, path)
