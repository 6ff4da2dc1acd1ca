"""What a model's linear head emits per horizon step, and what that means: one number (a point forecast) or the
parameters of a predictive distribution. A head turns those raw numbers [..., width] into a point forecast, a
training loss, and random draws; it holds no weights of its own (the model's `head` Linear does), so the weight
files of point models stay as they were.

Draws use torch's global generator: callers seed it (inside torch.random.fork_rng) to make samples reproducible."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MIN_SCALE = 1e-4  # in scaled units (a standardised series has unit spread): keeps the likelihood finite
MIN_DF = 2.0  # Student-t degrees of freedom stay above 2, so the variance exists


def _positive(raw: Tensor, floor: float = MIN_SCALE) -> Tensor:
    return F.softplus(raw) + floor


class PointHead:
    """Today's head: one number per step, trained with mse, mae or huber."""

    kind, width = "point", 1

    def __init__(self, loss: str = "mse") -> None:
        self.criterion = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss()}[loss]

    def point(self, raw: Tensor) -> Tensor:
        return raw[..., 0]

    def loss(self, raw: Tensor, y: Tensor) -> Tensor:
        return self.criterion(raw[..., 0], y)

    def sample(self, raw: Tensor) -> Tensor:
        raise ValueError("a point head has no distribution to sample from")


class NormalHead:
    """Gaussian: mean and scale (softplus) per step; the loss is the negative log-likelihood."""

    kind, width = "normal", 2

    def point(self, raw: Tensor) -> Tensor:
        return raw[..., 0]

    def loss(self, raw: Tensor, y: Tensor) -> Tensor:
        scale = _positive(raw[..., 1])
        z = (y - raw[..., 0]) / scale
        return (0.5 * z.square() + scale.log()).mean() + 0.5 * math.log(2 * math.pi)

    def sample(self, raw: Tensor) -> Tensor:
        return raw[..., 0] + _positive(raw[..., 1]) * torch.randn_like(raw[..., 0])


class StudentTHead:
    """Student's t: location, scale and degrees of freedom (2 + softplus, learned) per step; NLL loss. Heavy tails
    where daily returns have them (GluonTS' DeepAR default)."""

    kind, width = "student_t", 3

    def point(self, raw: Tensor) -> Tensor:
        return raw[..., 0]

    def parameters(self, raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return raw[..., 0], _positive(raw[..., 1]), _positive(raw[..., 2], MIN_DF)

    def loss(self, raw: Tensor, y: Tensor) -> Tensor:
        loc, scale, df = self.parameters(raw)
        z = (y - loc) / scale
        log_density = (torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
                       - scale.log() - (df + 1) / 2 * torch.log1p(z.square() / df))
        return -log_density.mean()

    def sample(self, raw: Tensor) -> Tensor:
        loc, scale, df = self.parameters(raw)
        chi2 = torch.distributions.Chi2(df).sample()
        return loc + scale * torch.randn_like(loc) * torch.rsqrt(chi2 / df)


class QuantileHead:
    """A set of quantile levels (0.5 among them) per step, trained with the pinball loss. No crossing by construction:
    the raw numbers are the median and softplus increments outwards from it, so the quantiles strictly increase."""

    kind = "quantile"

    def __init__(self, levels: Sequence[float]) -> None:
        self.levels = torch.tensor(sorted(levels), dtype=torch.float64)
        self.width = len(levels)
        self.middle = int(torch.nonzero(self.levels == 0.5)[0])

    def quantiles(self, raw: Tensor) -> Tensor:
        """raw [..., Q] -> quantiles [..., Q], increasing along the last axis."""
        median = raw[..., self.middle : self.middle + 1]
        above = median + torch.cumsum(_positive(raw[..., self.middle + 1 :]), dim=-1)
        below = median - torch.cumsum(_positive(raw[..., : self.middle]).flip(-1), dim=-1).flip(-1)
        return torch.cat([below, median, above], dim=-1)

    def point(self, raw: Tensor) -> Tensor:
        return raw[..., self.middle]

    def loss(self, raw: Tensor, y: Tensor) -> Tensor:
        levels = self.levels.to(raw.dtype).to(raw.device)
        error = y[..., None] - self.quantiles(raw)
        return torch.maximum(levels * error, (levels - 1) * error).mean()

    def sample(self, raw: Tensor) -> Tensor:
        """Inverse-CDF draws: linear between the learned levels, and the outermost segments extended linearly to
        levels 0 and 1 (the tails past the outermost levels are a guess, and bounded)."""
        q = self.quantiles(raw)
        levels = self.levels.to(q.dtype).to(q.device)
        u = torch.rand(q.shape[:-1], dtype=q.dtype, device=q.device)
        right = torch.searchsorted(levels, u.contiguous()).clamp(1, self.width - 1)
        left = right - 1
        q_left, q_right = q.gather(-1, left[..., None])[..., 0], q.gather(-1, right[..., None])[..., 0]
        weight = (u - levels[left]) / (levels[right] - levels[left])
        return q_left + weight * (q_right - q_left)


Head = PointHead | NormalHead | StudentTHead | QuantileHead


def head_for(kind: str, *, levels: Sequence[float] = (), loss: str | None = None) -> Head:
    if kind == "point":
        return PointHead(loss or "mse")
    if kind == "normal":
        return NormalHead()
    if kind == "student_t":
        return StudentTHead()
    if kind == "quantile":
        return QuantileHead(levels)
    raise ValueError(f"unknown head {kind!r}")
