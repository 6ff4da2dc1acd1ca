"""The probabilistic scorecard of a backtest: every forecaster that gives sample paths (probabilistic heads and the
probabilistic baselines) scored per horizon step on the same origins, in the data's units: CRPS, pinball loss over a
fixed set of quantile levels, coverage, width and Winkler score of its own central intervals (not recalibrated: the
ACI scorecard does that), and the PIT with a uniformity test; Diebold-Mariano on CRPS against each baseline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lstmcast.evaluation.intervals import interval_scores
from lstmcast.evaluation.probabilistic import crps_samples, pinball, pit_from_samples, pit_uniformity
from lstmcast.evaluation.significance import diebold_mariano

QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def distribution_scorecard(paths: dict[str, np.ndarray], actual: np.ndarray, *, baselines: list[str],
                           levels: list[float], step: int, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the scorecard, each model's PIT values [N, H]); paths [N, H, S] per model, actual [N, H]."""
    by_model, losses, pits = {}, {"crps": {}, "pinball": {}}, {}
    for number, (name, values) in enumerate(paths.items()):
        losses["crps"][name] = crps_samples(values, actual)
        pits[name] = pit_from_samples(values, actual, np.random.default_rng([seed, number]))
        by_model[name], losses["pinball"][name] = _model_scores(values, actual, losses["crps"][name], pits[name],
                                                                levels)
    samples = next(iter(paths.values())).shape[2] if paths else 0
    card = {"samples": samples, "quantile_levels": list(QUANTILE_LEVELS), "levels": [f"{v:g}" for v in levels],
            "baselines": baselines, "by_model": by_model,
            "diebold_mariano": _tests(losses["crps"], baselines, step),  # on CRPS
            "diebold_mariano_pinball": _tests(losses["pinball"], baselines, step)}  # on the mean pinball loss
    return card, pits


def _tests(loss: dict[str, np.ndarray], baselines: list[str], step: int) -> dict[str, Any]:
    """DM of every forecaster against every baseline (baselines against each other both ways, so any can be read
    against the best), on a loss [N, H]: overall (mean over steps) and per step."""
    tests = {}
    for name, values in loss.items():
        for baseline in (b for b in baselines if b != name):
            other = loss[baseline]
            horizon = values.shape[1]
            tests[f"{name} vs {baseline}"] = {
                "overall": diebold_mariano(values.mean(axis=1), other.mean(axis=1), lags=math.ceil(horizon / step) - 1),
                "by_step": [diebold_mariano(values[:, k], other[:, k], lags=math.ceil((k + 1) / step) - 1)
                            for k in range(horizon)],
            }
    return tests


def _model_scores(values: np.ndarray, actual: np.ndarray, crps: np.ndarray, pit: np.ndarray,
                  levels: list[float]) -> tuple[dict[str, Any], np.ndarray]:
    """The scores of one forecaster, and its mean pinball loss per origin and step [N, H]."""
    quantiles = np.moveaxis(np.quantile(values, QUANTILE_LEVELS, axis=-1), 0, -1)  # [N, H, Q]
    loss = pinball(np.array(QUANTILE_LEVELS), quantiles, actual)  # [N, H, Q]
    intervals = {}
    for level in levels:
        alpha = 1 - level / 100
        low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2], axis=-1)
        intervals[f"{level:g}"] = interval_scores(low, high, actual, alpha)
    uniformity = [pit_uniformity(pit[:, k]) for k in range(pit.shape[1])]
    return {
        "crps": crps.mean(axis=0).tolist(), "crps_overall": float(crps.mean()),
        "pinball": loss.mean(axis=(0, 2)).tolist(), "pinball_overall": float(loss.mean()),
        "pinball_by_level": dict(zip((f"{q:g}" for q in QUANTILE_LEVELS), loss.mean(axis=(0, 1)).tolist())),
        "intervals": intervals,
        "pit_p_value": [test["p_value"] for test in uniformity],
        "pit_histogram": [test["histogram"] for test in uniformity],
    }, loss.mean(axis=2)
