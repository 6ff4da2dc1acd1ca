"""Sample paths from a probabilistic head, in the user's units. Each scaled path is inverted exactly as a point
forecast is (scaler, then the target transform anchored on the last observed value), so for returns the price path
is the cumulated draw; price quantiles are then read from the paths, never by adding per-step quantiles."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lstmcast.data.windows import Prepared
from lstmcast.errors import ConfigError
from lstmcast.forecasting.predict import to_user_units

DEFAULT_SAMPLES = 1000
ROWS_PER_CHUNK = 200_000  # windows x samples decoded at once: bounds memory for seq2seq paths


def is_probabilistic(model: nn.Module) -> bool:
    return model.distribution.kind != "point"


@torch.no_grad()
def sample_scaled(model: nn.Module, x: torch.Tensor, samples: int, *, steps: int, seed: int) -> np.ndarray:
    """Scaled sample paths [W, steps, samples] for the windows x [W, T, F]; the same seed gives the same paths."""
    if not is_probabilistic(model):
        raise ConfigError("this model has a point head, so there is nothing to sample: train it with model.head: "
                          "normal, student_t or quantile, or use --levels for conformal intervals around its forecast")
    if model.decoder is None and steps > model.horizon:
        raise ConfigError(f"sample paths past the trained horizon ({model.horizon}) need a seq2seq model; a "
                          f"many_to_one head gives {model.horizon} steps")
    model.eval()
    chunk = max(1, ROWS_PER_CHUNK // samples)
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        parts = [model.sample_paths(x[start : start + chunk], samples, horizon=steps).double().cpu()
                 for start in range(0, len(x), chunk)]
    return torch.cat(parts).transpose(1, 2).numpy() if parts else np.zeros((0, steps, samples))


def to_user_paths(prepared: Prepared, scaled: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Scaled paths [W, H, S] -> paths in the user's units [W, H, S], each anchored on its window's last value."""
    count, horizon, samples = scaled.shape
    flat = scaled.transpose(0, 2, 1).reshape(count * samples, horizon)
    user = to_user_units(prepared, flat, np.repeat(origins, samples))
    return user.reshape(count, samples, horizon).transpose(0, 2, 1)


def sample_paths(model: nn.Module, prepared: Prepared, x: torch.Tensor, origins: np.ndarray, *, samples: int,
                 steps: int, seed: int) -> np.ndarray:
    """Paths [W, steps, samples] in the user's units from the windows x [W, T, F] ending at `origins`."""
    return to_user_paths(prepared, sample_scaled(model, x, samples, steps=steps, seed=seed), origins)


def split_paths(model: nn.Module, prepared: Prepared, split: str, *, samples: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paths [W, H, S] in the user's units from every window of a split, and the actual values [W, H] they aimed at:
    what a held-out calibration needs."""
    origins = prepared.origins(split)
    x, _ = prepared.windows(origins)
    paths = sample_paths(model, prepared, x, origins, samples=samples, steps=prepared.horizon, seed=seed)
    actual = np.stack([prepared.raw[origins + k, 0] for k in range(1, prepared.horizon + 1)], axis=1)
    return paths, actual
