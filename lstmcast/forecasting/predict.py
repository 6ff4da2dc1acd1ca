"""Forecasts from a trained model, in the user's units."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lstmcast.data.transforms import invert_target
from lstmcast.data.windows import Prepared
from lstmcast.errors import ConfigError


@torch.no_grad()
def predict_scaled(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> np.ndarray:
    """Scaled forecasts [W, H], batched, in eval mode (no dropout, no teacher forcing)."""
    model.eval()
    parts = [model(x[start : start + batch_size])[0].float().cpu() for start in range(0, len(x), batch_size)]
    out = torch.cat(parts).numpy() if parts else np.zeros((0, 0), dtype=np.float32)
    return out.astype(np.float64)


@torch.no_grad()
def forecast_scaled(model: nn.Module, x: torch.Tensor, steps: int) -> np.ndarray:
    """Scaled forecasts [W, steps] for any number of steps. Past the trained horizon a seq2seq decoder keeps decoding;
    a many_to_one model with the target as its only input is rolled forward on its own forecasts; a many_to_one model
    with extra inputs cannot go further, since their future is unknown."""
    model.eval()
    trained = model.horizon
    check_calendar_reach(model, steps)
    if steps <= trained or model.decoder is not None:
        return model(x, horizon=steps)[0].double().cpu().numpy()
    if x.shape[2] != 1:
        raise ConfigError(
            f"--horizon {steps}: this many_to_one model was trained for {trained} steps and has extra input columns "
            f"whose future is unknown; ask for at most {trained} steps, or train with a longer horizon"
        )
    window, parts, produced = x, [], 0
    while produced < steps:
        y = model(window)[0]  # [W, H]
        parts.append(y)
        produced += y.shape[1]
        window = torch.cat([window, y[:, :, None]], dim=1)[:, -x.shape[1]:]
    return torch.cat(parts, dim=1)[:, :steps].double().cpu().numpy()


def check_calendar_reach(model: nn.Module, steps: int) -> None:
    """A model that reads the calendar of the dates it forecasts knows them only as far as its trained horizon."""
    if steps > model.horizon and model.inputs.layout.known:
        raise ConfigError(f"--horizon {steps}: the model reads the calendar of the {model.horizon} dates it was "
                          f"trained to forecast (data.future_covariates), no further; ask for at most {model.horizon} "
                          "steps, or train with a longer horizon")


def to_user_units(prepared: Prepared, scaled: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Invert scaling and the target transform, anchored on the last observed value of each window."""
    return invert_target(
        scaled, prepared.raw[origins, 0], kind=prepared.transforms[0],
        center=float(prepared.scaler.center[0]), scale=float(prepared.scaler.scale[0]),
    )
