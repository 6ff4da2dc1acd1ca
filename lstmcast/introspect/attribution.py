"""Which input steps and columns each forecast step rests on: integrated gradients, occlusion, and how far back the
gradient reaches.

The baseline is the window with its value columns at 0 in the model's scaled units (the training mean under the
standard scaler; the training minimum under minmax, the median under robust, 0 itself under none), while calendar and
series covariates keep their real values (they are not evidence of the series' path). Integrated gradients
(Sundararajan, Taly & Yan 2017) integrate the gradient along the straight line from the baseline to the window; the
integral is taken by Gauss-Legendre quadrature, so the attributions of a smooth LSTM add up to the change in the
forecast to far better than a Riemann sum of the same cost, and the remaining gap (the completeness residual) is
reported, not assumed. Shape legend: W windows, T steps, F value columns, K horizon steps, M quadrature nodes."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

NODES = 16  # Gauss-Legendre nodes on [0, 1]: the residual is at float64 rounding for the models tried


@dataclass
class Attribution:
    integrated: np.ndarray  # [W, K, T, F] integrated gradients, in forecast units (scaled) per input
    change: np.ndarray  # [W, K] forecast(window) - forecast(baseline)
    residual: np.ndarray  # [W, K] |sum of attributions - change|, relative to max(|change|, 1e-8)
    occlusion_steps: np.ndarray  # [W, K, T] forecast - forecast with step t's values at the baseline
    gradient: np.ndarray  # [W, K, T, F] the gradient at the window itself

    @property
    def integrated_by_lag(self) -> np.ndarray:
        """[K, T] mean over windows of |attribution| summed over columns, by lag (lag 0 = the window's last step)."""
        return np.abs(self.integrated).sum(-1).mean(0)[:, ::-1]

    @property
    def occlusion_by_lag(self) -> np.ndarray:
        """[K, T] mean |change| when one step is set to the baseline, by lag."""
        return np.abs(self.occlusion_steps).mean(0)[:, ::-1]

    @property
    def gradient_by_lag(self) -> np.ndarray:
        """[K, T] how far back the gradient reaches: mean over windows of |gradient| summed over columns, by lag."""
        return np.abs(self.gradient).sum(-1).mean(0)[:, ::-1]

    @property
    def reach_lags(self) -> list[int]:
        """Per forecast step, the largest lag at which the gradient is still 1% of its peak."""
        return [int(np.flatnonzero(profile >= 0.01 * profile.max()).max()) if profile.max() > 0 else 0
                for profile in self.gradient_by_lag]


def baseline(x: Tensor, values: int) -> Tensor:
    out = x.clone()
    out[..., :values] = 0
    return out


def _forecast(model: nn.Module, x: Tensor) -> Tensor:
    return model(x)[0]  # [B, K] the point forecast, scaled


def _gradients(model: nn.Module, points: Tensor) -> Tensor:
    """d forecast_k / d input for every k: [B, K, T, C]."""
    points = points.detach().requires_grad_(True)
    y = _forecast(model, points)
    grads = [torch.autograd.grad(y[:, k].sum(), points, retain_graph=k + 1 < y.shape[1])[0] for k in range(y.shape[1])]
    return torch.stack(grads, 1)


def attribute(model: nn.Module, x: Tensor, values: int, *, nodes: int = NODES) -> Attribution:
    """Attributions of every forecast step of the windows x [W, T, C] to their first `values` columns, computed in
    float64 on a copy of the model (in float32 the rounding of the forecasts alone exceeds 1e-4 of a small change)."""
    model, x = copy.deepcopy(model).double().eval(), x.double()
    start = baseline(x, values)
    nodes_, weights = np.polynomial.legendre.leggauss(nodes)
    alphas = torch.tensor((nodes_ + 1) / 2, dtype=x.dtype)
    weights_ = torch.tensor(weights / 2, dtype=x.dtype)
    with torch.enable_grad():
        path = start[None] + alphas[:, None, None, None] * (x - start)[None]  # [M, W, T, C]
        grads = _gradients(model, path.reshape(-1, *x.shape[1:])).reshape(nodes, *x.shape[:1], -1, *x.shape[1:])
        integrated = ((grads * weights_[:, None, None, None, None]).sum(0) * (x - start)[:, None])[..., :values]
        at_window = _gradients(model, x)[..., :values]
    with torch.no_grad():
        full, empty = _forecast(model, x), _forecast(model, start)
        change = full - empty
        residual = (integrated.sum((2, 3)) - change).abs() / change.abs().clamp_min(1e-8)
        occluded = _occluded_steps(model, x, start, values)
    return Attribution(integrated.numpy(), change.numpy(), residual.numpy(), (full[:, :, None] - occluded).numpy(),
                       at_window.numpy())


def _occluded_steps(model: nn.Module, x: Tensor, start: Tensor, values: int) -> Tensor:
    """Forecasts [W, K, T] with one step's values at a time set to the baseline."""
    windows, steps = x.shape[0], x.shape[1]
    by_step = x[:, None].repeat(1, steps, 1, 1)  # [W, T(occluded), T, C]
    index = torch.arange(steps)
    by_step[:, index, index, :values] = start[:, index, :values]
    return _forecast(model, by_step.reshape(-1, *x.shape[1:])).reshape(windows, steps, -1).transpose(1, 2)
