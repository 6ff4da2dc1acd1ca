"""How a trained single-series model scores on its own splits: the test scores against the naive baselines (in the
user's units), and the validation conformity scores that `predict --levels` calibrates its intervals on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmcast.config import RunConfig
from lstmcast.data.reading import Series
from lstmcast.data.transforms import rows_consumed
from lstmcast.data.windows import Prepared
from lstmcast.evaluation.backtest import Scores, score
from lstmcast.evaluation.conformal import head_pairs, path_conformity, residual_scale, residuals
from lstmcast.evaluation.metrics import REFERENCE, actuals
from lstmcast.forecasting.baselines import drift, random_walk
from lstmcast.forecasting.predict import predict_scaled, to_user_units
from lstmcast.forecasting.sampling import DEFAULT_SAMPLES, is_probabilistic, split_paths
from lstmcast.outputs import plots


def test_scores(model: torch.nn.Module, series: Series, prepared: Prepared, config: RunConfig,
                split: str = "test") -> tuple[Scores, Any]:
    """The model and the naive baselines on the test windows (or another split's), in the user's units and in
    raw-row coordinates (so MASE's scale is the same as a backtest's over the same origins)."""
    origins, raw_origins, predicted, actual = _on_split(model, series, prepared, config, split)
    history = series.values.iloc[:, 0].to_numpy()
    forecasts = {"model": predicted, REFERENCE: random_walk(history, raw_origins, prepared.horizon),
                 "drift": drift(history, raw_origins, prepared.horizon)}
    scores = score(forecasts, actual, history[raw_origins], history=history[: raw_origins[0] + 1], step=1)
    for name in forecasts:
        test = scores.diebold_mariano.get(f"model vs {name}", {}).get("overall", {})
        scores.overall[name]["dm_p_value"] = test.get("p_value")
    return scores, (origins, actual, forecasts)


def test_forecast_plot(path: Path, name: str, prepared: Prepared, origins: np.ndarray, actual: np.ndarray,
                       forecasts: dict[str, np.ndarray]) -> None:
    """test_forecast.png: one step ahead on the test split against the random walk, after as much history as the
    test split is long."""
    target = prepared.columns[0]
    context = slice(max(0, origins[0] - len(origins)), origins[0] + 2)
    plots.forecast_vs_actual(
        path, prepared.dates[origins + 1], actual[:, 0],
        {"LSTM, 1 step ahead": forecasts["model"][:, 0], "random walk": forecasts[REFERENCE][:, 0]},
        context_dates=prepared.dates[context], context=prepared.raw[context, 0], reference="random walk",
        title=f"{name}: {target} (original units), one step ahead on the test split ({len(origins)} dates)",
        ylabel=target,
    )


def _on_split(model: torch.nn.Module, series: Series, prepared: Prepared, config: RunConfig,
              split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A split's origins (prepared rows and raw rows), the model's forecasts there in the user's units, and the
    actual values they aimed at."""
    origins = prepared.origins(split)
    x, _ = prepared.windows(origins)
    predicted = to_user_units(prepared, predict_scaled(model.cpu(), x), origins)
    raw_origins = origins + rows_consumed(config.data)
    return origins, raw_origins, predicted, actuals(series.values.iloc[:, 0].to_numpy(), raw_origins, prepared.horizon)


def validation_residuals(model: torch.nn.Module, series: Series, prepared: Prepared,
                         config: RunConfig) -> dict[str, Any]:
    """The evaluated model's conformity scores on the validation windows (held out from its fit), per horizon step:
    for a point head its residuals, as log ratios for prices (a ratio stays comparable as the level moves), for
    split-conformal intervals; for a probabilistic head |PIT - 0.5| of its sample paths, for distributional
    conformal intervals (and CQR scores at a quantile head's level pairs)."""
    _, _, predicted, actual = _on_split(model, series, prepared, config, "validation")
    scale = residual_scale(prepared.transforms[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = residuals(predicted, actual, scale)
    if not np.isfinite(errors).all():  # a ratio across zero: fall back to differences
        scale, errors = "difference", residuals(predicted, actual, "difference")
    if is_probabilistic(model):
        paths, _ = split_paths(model, prepared, "validation", samples=DEFAULT_SAMPLES, seed=config.training.seed)
        scale = "difference" if scale == "log_ratio" and not (paths > 0).all() else scale
        return path_conformity(paths, actual, seed=config.training.seed, scale=scale,
                               pairs=head_pairs(config.model.head.levels or ()))
    return {"scale": scale, "scores": np.sort(np.abs(errors), axis=0).T.tolist()}
