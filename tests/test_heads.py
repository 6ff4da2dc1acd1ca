"""Probabilistic heads: their losses against torch.distributions and hand computations, no quantile crossing, draws
with the right distribution, seeded and reproducible sample paths, and price paths cumulated, not added."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lstmcast.config import ManyToOneConfig, Seq2SeqConfig
from lstmcast.data.transforms import invert_target
from lstmcast.forecasting.sampling import sample_scaled, to_user_paths
from lstmcast.models.heads import MIN_DF, MIN_SCALE, NormalHead, QuantileHead, StudentTHead
from lstmcast.models.lstm import build_model

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _softplus(raw: torch.Tensor, floor: float) -> torch.Tensor:
    return torch.nn.functional.softplus(raw) + floor


def test_normal_nll_is_torch_normal_log_prob():
    torch.manual_seed(0)
    raw, y = torch.randn(50, 5, 2, dtype=torch.float64), torch.randn(50, 5, dtype=torch.float64)
    expected = -torch.distributions.Normal(raw[..., 0], _softplus(raw[..., 1], MIN_SCALE)).log_prob(y).mean()
    assert float(NormalHead().loss(raw, y)) == pytest.approx(float(expected), rel=1e-12)


def test_student_t_nll_is_torch_student_t_log_prob():
    torch.manual_seed(1)
    raw, y = torch.randn(50, 5, 3, dtype=torch.float64), 3 * torch.randn(50, 5, dtype=torch.float64)
    t = torch.distributions.StudentT(_softplus(raw[..., 2], MIN_DF), raw[..., 0], _softplus(raw[..., 1], MIN_SCALE))
    assert float(StudentTHead().loss(raw, y)) == pytest.approx(float(-t.log_prob(y).mean()), rel=1e-12)


def test_pinball_loss_by_hand():
    head = QuantileHead((0.1, 0.5, 0.9))
    inverse = math.log(math.expm1(1.0 - MIN_SCALE))  # softplus(inverse) + MIN_SCALE == 1
    raw = torch.tensor([[[inverse, 2.0, inverse]]], dtype=torch.float64)  # quantiles 1, 2, 3
    assert head.quantiles(raw).flatten().tolist() == pytest.approx([1.0, 2.0, 3.0])
    y = torch.tensor([[3.5]], dtype=torch.float64)
    # y above every quantile: tau * (y - q) = 0.1 * 2.5, 0.5 * 1.5, 0.9 * 0.5
    assert float(head.loss(raw, y)) == pytest.approx((0.25 + 0.75 + 0.45) / 3)
    y = torch.tensor([[0.0]], dtype=torch.float64)
    # below every quantile: (1 - tau) * (q - y) = 0.9 * 1, 0.5 * 2, 0.1 * 3
    assert float(head.loss(raw, y)) == pytest.approx((0.9 + 1.0 + 0.3) / 3)


def test_quantiles_never_cross():
    head = QuantileHead(LEVELS)
    generator = torch.Generator().manual_seed(2)
    for scale in (0.01, 1.0, 30.0):
        raw = scale * torch.randn(2000, 4, len(LEVELS), generator=generator)
        gaps = head.quantiles(raw).diff(dim=-1)
        assert bool((gaps > 0).all())
        assert float(head.point(raw).sub(head.quantiles(raw)[..., 3]).abs().max()) == 0.0  # the median is the point


def test_draws_follow_each_head():
    torch.manual_seed(3)
    count = 200_000
    raw = torch.tensor([0.3, 0.2, 0.5], dtype=torch.float64).expand(count, 3)
    loc, scale, df = StudentTHead().parameters(raw[:1])
    draws = StudentTHead().sample(raw).numpy()
    assert stats.kstest(draws, stats.t(df=float(df), loc=float(loc), scale=float(scale)).cdf).pvalue > 1e-3
    draws = NormalHead().sample(raw[:, :2]).numpy()
    assert stats.kstest(draws, stats.norm(0.3, float(_softplus(torch.tensor(0.2), MIN_SCALE))).cdf).pvalue > 1e-3
    head = QuantileHead(LEVELS)
    raw = torch.randn(len(LEVELS), dtype=torch.float64).expand(count, len(LEVELS))
    draws = head.sample(raw).numpy()
    learned = head.quantiles(raw[:1])[0].numpy()
    assert np.quantile(draws, LEVELS) == pytest.approx(learned, abs=0.02 * (learned[-1] - learned[0]))


def _model(kind: str, head: str, *, horizon: int = 4) -> torch.nn.Module:
    config = (ManyToOneConfig if kind == "many_to_one" else Seq2SeqConfig)(
        kind=kind, hidden_size=8, num_layers=2, head=head if head != "quantile" else {"kind": head, "levels": LEVELS})
    torch.manual_seed(4)
    return build_model(config, layout=2, horizon=horizon).eval()


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq"])
@pytest.mark.parametrize("head", ["normal", "student_t", "quantile"])
def test_seeded_paths_repeat_and_leave_the_global_generator_alone(kind, head):
    model, x = _model(kind, head), torch.randn(3, 10, 2)
    before = torch.get_rng_state()
    first = sample_scaled(model, x, 50, steps=4, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    assert np.array_equal(first, sample_scaled(model, x, 50, steps=4, seed=7))
    assert first.shape == (3, 4, 50)
    assert not np.array_equal(first, sample_scaled(model, x, 50, steps=4, seed=8))


def test_seq2seq_paths_feed_each_draw_to_the_next_step():
    """Every draw is mean + scale * noise where mean and scale come from the decoder fed the path's previous draws:
    reproduced exactly by teacher forcing the drawn path and replaying the same noise."""
    model, x, samples = _model("seq2seq", "normal"), torch.randn(2, 10, 2), 30
    paths = torch.from_numpy(sample_scaled(model, x, samples, steps=4, seed=11)).float()  # [2, 4, 30]
    fed = paths.transpose(1, 2).reshape(2 * samples, 4)
    with torch.no_grad():
        raw, _ = model.emit(x.repeat_interleave(samples, dim=0), target=fed, teacher_forcing=1.0)
    torch.manual_seed(11)
    noise = torch.stack([torch.randn(2 * samples, 1)[:, 0] for _ in range(4)], dim=1)
    expected = raw[..., 0] + _softplus(raw[..., 1], MIN_SCALE) * noise
    assert float((expected - fed).abs().max()) < 1e-5


def test_price_paths_are_cumulated_draws():
    """Quantiles of the price come from the cumulated path of each draw, equal to a direct computation; adding
    per-step quantiles instead would give other numbers."""
    from types import SimpleNamespace

    from lstmcast.data.scalers import Scaler

    rng = np.random.default_rng(5)
    scaled = rng.standard_t(4, size=(2, 5, 4000))
    anchors = np.array([100.0, 50.0])
    prepared = SimpleNamespace(raw=anchors[:, None], transforms=["log_return"],
                               scaler=Scaler("standard", np.array([0.001]), np.array([0.02])))
    paths = to_user_paths(prepared, scaled, np.array([0, 1]))
    direct = anchors[:, None, None] * np.exp(np.cumsum(scaled * 0.02 + 0.001, axis=1))
    assert np.allclose(paths, direct, rtol=1e-12)
    quantiles = np.quantile(paths, [0.05, 0.95], axis=2)
    by_hand = np.array([[np.quantile(direct[w, k], [0.05, 0.95]) for k in range(5)] for w in range(2)])
    assert np.allclose(quantiles.transpose(1, 2, 0), by_hand)
    added = invert_target(np.quantile(scaled, 0.05, axis=2), anchors, kind="log_return", center=0.001, scale=0.02)
    assert not np.allclose(added[:, -1], quantiles[0, :, -1], rtol=1e-3)


def test_point_heads_keep_their_weight_names():
    model = _model("many_to_one", "point")
    assert {name: tuple(v.shape) for name, v in model.state_dict().items() if name.startswith("head")} == \
        {"head.weight": (4, 8), "head.bias": (4,)}
    assert _model("many_to_one", "student_t").head.weight.shape == (12, 8)  # 3 numbers per step
