"""Conformal prediction intervals around any forecast (numpy only): split conformal from held-out residuals,
conformalised quantiles (CQR) and distributional conformal prediction for probabilistic heads; the adaptive rules
along walk-forward origins are in `adaptive`."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lstmcast.evaluation.probabilistic import pit_from_samples


def conformal_rank(count: int, coverage: float | np.ndarray) -> int | np.ndarray:
    """The finite-sample conformal rank (1-based) among `count` held-out scores for `coverage`: ceil((n + 1) c); past
    `count` no held-out score is large enough, and the interval is unbounded."""
    rank = np.ceil((count + 1) * np.asarray(coverage, dtype=np.float64)).astype(int)
    return int(rank) if rank.ndim == 0 else rank


def conformal_quantile(scores: np.ndarray, alpha: float) -> np.ndarray:
    """Per column [H] of held-out scores [N, H]: the conformal (1 - alpha) quantile, infinite when N is too small
    for that level."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64), axis=0)
    count, rank = ordered.shape[0], conformal_rank(ordered.shape[0], 1 - alpha)
    if rank > count:
        return np.full(ordered.shape[1], np.inf)
    return ordered[rank - 1] if rank >= 1 else np.zeros(ordered.shape[1])


def split_conformal(residuals: np.ndarray, alpha: float) -> np.ndarray:
    """Half-widths [H] of (1 - alpha) intervals per horizon step, from held-out residuals [N, H] (actual - forecast):
    the ceil((N + 1)(1 - alpha))-th smallest |residual| (infinite when N is too small for that level)."""
    return conformal_quantile(np.abs(residuals), alpha)


def residual_scale(transform: str) -> str:
    """How residuals are measured: as log ratios for a target modelled through logs or returns (a price: errors scale
    with its level, so a ratio stays comparable over decades), else as differences."""
    return "log_ratio" if transform in ("log", "log_return", "pct_change") else "difference"


def residuals(forecast: np.ndarray, actual: np.ndarray, scale: str) -> np.ndarray:
    """actual against forecast on `scale` (log_ratio: log(actual / forecast))."""
    if scale == "log_ratio":
        return np.log(np.asarray(actual, dtype=np.float64) / np.asarray(forecast, dtype=np.float64))
    return np.asarray(actual, dtype=np.float64) - forecast


def interval(forecast: np.ndarray, half_width: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds in the data's units around `forecast` for half-widths on `scale`."""
    if scale == "log_ratio":
        return forecast * np.exp(-half_width), forecast * np.exp(half_width)
    return forecast - half_width, forecast + half_width


def distributional_levels(pit_scores: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Distributional conformal prediction (Chernozhukov, Wuethrich & Zhu 2021) for a probabilistic forecast: from
    held-out scores |PIT - 0.5| [N, H], the quantile levels [H] whose predictive quantiles bound a (1 - alpha)
    interval with finite-sample coverage. A calibrated model gets back about (alpha/2, 1 - alpha/2); an
    overconfident one, levels further out. A lower level <= 0 means the interval is unbounded."""
    reach = split_conformal(pit_scores, alpha)
    return 0.5 - reach, 0.5 + reach


def head_pairs(levels: Sequence[float]) -> dict[str, tuple[float, float]]:
    """A quantile head's symmetric level pairs by the central interval they bound: {"80": (0.1, 0.9), ...}."""
    chosen = {round(level, 9) for level in levels}
    return {f"{round(100 * (1 - 2 * low), 6):g}": (low, round(1 - low, 9)) for low in sorted(chosen)
            if low < 0.5 and round(1 - low, 9) in chosen}


def pit_scores(paths: np.ndarray, actual: np.ndarray, *, seed: int) -> np.ndarray:
    """|PIT - 0.5| [N, H] of actual [N, H] under sample paths [N, H, S]: the distributional conformity score."""
    return np.abs(pit_from_samples(paths, actual, np.random.default_rng(seed)) - 0.5)


def path_conformity(paths: np.ndarray, actual: np.ndarray, *, seed: int, scale: str,
                    pairs: dict[str, tuple[float, float]]) -> dict:
    """Held-out conformity scores of sample paths [N, H, S] against actual [N, H]: |PIT - 0.5| per step (for
    distributional conformal intervals at any level), and for a quantile head's level pairs the CQR scores
    max(lower - y, y - upper) on `scale` (Romano, Patterson & Candes 2019), each sorted per step."""
    scores = pit_scores(paths, actual, seed=seed)
    result = {"scale": "pit", "scores": np.sort(scores, axis=0).T.tolist(), "samples": paths.shape[-1]}
    if pairs:
        cqr = {}
        for name, (low, high) in pairs.items():
            lower, upper = np.quantile(paths, [low, high], axis=-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                below, above = residuals(actual, lower, scale), residuals(upper, actual, scale)  # lower - y, y - upper
            cqr[name] = np.sort(np.maximum(below, above), axis=0).T.tolist()
        result |= {"cqr_scale": scale, "cqr": cqr}
    return result


def cqr_interval(lower: np.ndarray, upper: np.ndarray, scores: np.ndarray, alpha: float,
                 scale: str) -> tuple[np.ndarray, np.ndarray]:
    """The head's [lower, upper] [H] widened (or narrowed) by the (1 - alpha) conformal quantile of its held-out CQR
    scores [N, H], on `scale`; infinite when N is too small for the level."""
    margin = conformal_quantile(scores, alpha)
    if scale == "log_ratio":
        return lower * np.exp(-margin), upper * np.exp(margin)
    return lower - margin, upper + margin


def recalibrated_paths(paths: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """Sample paths [N, H, S] redrawn from their distributional-conformal recalibration: the draw at level u becomes
    the paths' quantile at 0.5 +- q(|2u - 1|), q the conformal quantile of the held-out |PIT - 0.5| [M, H] at that
    coverage, so every central interval of the result is the one `predict --levels` would give."""
    count, horizon, samples = paths.shape
    levels = (np.arange(samples) + 0.5) / samples
    coverage = np.abs(2 * levels - 1)
    out = np.empty_like(paths)
    for k in range(horizon):
        scores = np.sort(held_out[:, k])
        rank = conformal_rank(len(scores), coverage)
        reach = np.where(rank <= len(scores), scores[np.clip(rank, 1, len(scores)) - 1], 0.5)
        moved = np.clip(0.5 + np.sign(levels - 0.5) * reach, 0.0, 1.0)
        out[:, k] = np.quantile(paths[:, k], moved, axis=-1).T
    return out
