"""The two LSTM forecasters, called the same way: forward(x, state=None, *, target=None, teacher_forcing=0.0,
generator=None, horizon=None) -> (y, state). Both have an `encoder` (the LSTM that reads the window) and a `decoder`
(None for many_to_one), so callers never ask which kind they hold.

Shape legend: B batch, T lookback steps, F input features, H horizon, L layers,
U hidden_size, P output units (proj_size if set, else hidden_size).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import torch
from torch import Tensor, nn

from lstmcast.config import ManyToOneConfig, Seq2SeqConfig
from lstmcast.models.heads import Head, PointHead, head_for
from lstmcast.models.inputs import InputLayout, ModelInputs

LSTMState = tuple[Tensor, Tensor]  # (h [L, B, P], c [L, B, U])


def lstm_for(config: ManyToOneConfig | Seq2SeqConfig, input_size: int) -> nn.LSTM:
    return nn.LSTM(
        input_size=input_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
        proj_size=config.proj_size,
        batch_first=True,
    )


def lstm_weights(lstm: nn.LSTM, layer: int) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """(W_ih [4U, in], W_hh [4U, P], b_ih + b_hh [4U], W_hr [P, U] or None) of one layer, gates in PyTorch's order
    i, f, g, o: for code that computes the cell itself (recorded gates, an exported graph)."""
    suffix = f"_l{layer}"
    bias = getattr(lstm, "bias_ih" + suffix) + getattr(lstm, "bias_hh" + suffix)
    projection = getattr(lstm, "weight_hr" + suffix) if lstm.proj_size else None
    return getattr(lstm, "weight_ih" + suffix), getattr(lstm, "weight_hh" + suffix), bias, projection


def stepped(lstm: nn.LSTM, x: Tensor, state: Optional[LSTMState] = None) -> Iterator[LSTMState]:
    """(h_n, c_n) of every layer after each step of x [B, T, F] (batch first), from `state` (zero when None).

    Each step calls what `nn.LSTM.forward` calls, `torch.lstm` with the module's own weights and settings, on the
    sequence-first step that forward would hand it: the module's numbers bit for bit (tested against the module
    called step by step), without its argument checks on every call, which cost as much as a step on small batches."""
    if state is None:
        units = lstm.proj_size or lstm.hidden_size
        state = (x.new_zeros(lstm.num_layers, len(x), units), x.new_zeros(lstm.num_layers, len(x), lstm.hidden_size))
    weights = [weight for layer in lstm.all_weights for weight in layer]
    sequence = x.transpose(0, 1)  # [T, B, F]
    for t in range(len(sequence)):
        _, h, c = torch.lstm(sequence[t : t + 1], state, weights, lstm.bias, lstm.num_layers, lstm.dropout,
                             lstm.training, lstm.bidirectional, False)
        state = (h, c)
        yield state


def output_units(config: ManyToOneConfig | Seq2SeqConfig) -> int:
    return config.proj_size or config.hidden_size


class ManyToOne(nn.Module):
    """Window in, whole horizon out: the top layer's last output (h_n[-1]) feeds one linear head, which emits
    `distribution.width` numbers per step (one for a point forecast)."""

    decoder = None

    def __init__(self, config: ManyToOneConfig, *, layout: InputLayout, horizon: int,
                 distribution: Optional[Head] = None) -> None:
        super().__init__()
        self.horizon = horizon
        self.distribution = distribution or PointHead()
        self.inputs = ModelInputs(layout, horizon)
        self.lstm = lstm_for(config, self.inputs.encoder_size)  # the name keeps weight files of every version loadable
        self.head = nn.Linear(output_units(config), horizon * self.distribution.width)

    @property
    def encoder(self) -> nn.LSTM:
        return self.lstm

    def encode(self, x: Tensor, state: Optional[LSTMState] = None) -> tuple[Tensor, LSTMState]:
        """The encoder LSTM over a window x [B, T, C] as the model reads it (static codes embedded)."""
        return self.lstm(self.inputs.encoder(x), state)

    def outputs(self, features: Tensor) -> Tensor:
        """The head's raw numbers [B, H, width] from the top layer's last output [B, P]."""
        return self.head(features).unflatten(-1, (self.horizon, self.distribution.width))  # B stays free in a traced graph

    def point_from(self, features: Tensor) -> Tensor:
        return self.distribution.point(self.outputs(features))

    def emit(self, x: Tensor, state: Optional[LSTMState] = None, *, target: Optional[Tensor] = None,
             teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None,
             horizon: Optional[int] = None) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> the head's raw numbers [B, H, width]. target, teacher_forcing and generator are accepted
        for a uniform call and unused: the head emits the whole horizon at once. horizon (<= the trained one) keeps
        the first steps."""
        output, state = self.encode(x, state)  # output [B, T, P]: the top layer's h_t at every step
        return self.outputs(output[:, -1])[:, :horizon], state  # output[:, -1] is h_n[-1]

    def forward(self, x: Tensor, state: Optional[LSTMState] = None, **options: object) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> the point forecast y [B, H] (a distribution's mean, location or median)."""
        raw, state = self.emit(x, state, **options)
        return self.distribution.point(raw), state

    def sample_paths(self, x: Tensor, samples: int, *, horizon: Optional[int] = None) -> Tensor:
        """[B, samples, H] draws: each step from its own predictive distribution (the head gives marginals)."""
        raw, _ = self.emit(x, horizon=horizon)
        return self.distribution.sample(raw[:, None].expand(-1, samples, -1, -1))


class DecodedStep(NamedTuple):
    """One decoder step: the value it was fed [B, 1], its top-layer output [B, P], its prediction [B, 1] (a point, or
    a draw when sampling), its state, and the head's raw numbers [B, 1, width]."""

    fed: Tensor
    output: Tensor
    prediction: Tensor
    state: LSTMState
    raw: Tensor


class Seq2Seq(nn.Module):
    """An encoder's final (h, c) seeds a decoder that feeds back its own prediction, one step at a time."""

    def __init__(self, config: Seq2SeqConfig, *, layout: InputLayout, horizon: int,
                 distribution: Optional[Head] = None) -> None:
        super().__init__()
        self.horizon = horizon
        self.distribution = distribution or PointHead()
        self.inputs = ModelInputs(layout, horizon)
        self.encoder = lstm_for(config, self.inputs.encoder_size)
        # input: the previous step's (scaled) target, then that step's calendar and the static embeddings if any
        self.decoder = lstm_for(config, 1 + self.inputs.decoder_extra)
        self.head = nn.Linear(output_units(config), self.distribution.width)

    def encode(self, x: Tensor, state: Optional[LSTMState] = None) -> tuple[Tensor, LSTMState]:
        """The encoder LSTM over a window x [B, T, C] as the model reads it (static codes embedded)."""
        return self.encoder(self.inputs.encoder(x), state)

    def point_from(self, features: Tensor) -> Tensor:
        """The point forecast [B, 1] from a decoder step's top-layer output [B, P]."""
        return self.distribution.point(self.head(features)[:, None])

    def emit(self, x: Tensor, state: Optional[LSTMState] = None, *, target: Optional[Tensor] = None,
             teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None,
             horizon: Optional[int] = None) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> the head's raw numbers [B, H, width]. With `target` [B, H] and teacher_forcing > 0, each
        step feeds the true previous value instead of the point prediction with that probability (one draw per step
        and batch). `horizon` may exceed the trained one: the decoder is autoregressive."""
        _, state = self.encode(x, state)
        count = horizon or self.horizon
        steps = list(self.decode(x[:, -1, :1], state, steps=count, target=target, teacher_forcing=teacher_forcing,
                                 generator=generator, extra=self.inputs.decoder(x[:, -1], count)))
        return torch.cat([step.raw for step in steps], dim=1), steps[-1].state

    def forward(self, x: Tensor, state: Optional[LSTMState] = None, **options: object) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> the point forecast y [B, H], each step fed the previous point forecast."""
        raw, state = self.emit(x, state, **options)
        return self.distribution.point(raw), state

    def sample_paths(self, x: Tensor, samples: int, *, horizon: Optional[int] = None) -> Tensor:
        """[B, samples, H] sample paths: every path's decoder is fed its own previous draw, so the steps of a path
        depend on each other as the model says."""
        _, (h, c) = self.encode(x)
        state = (h.repeat_interleave(samples, dim=1), c.repeat_interleave(samples, dim=1))
        last = x[:, -1].repeat_interleave(samples, dim=0)
        count = horizon or self.horizon
        steps = self.decode(last[:, :1], state, steps=count, sample=True, extra=self.inputs.decoder(last, count))
        return torch.cat([step.prediction for step in steps], dim=1).view(len(x), samples, -1)

    def decode(self, previous: Tensor, state: LSTMState, *, steps: int, target: Optional[Tensor] = None,
               teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None,
               sample: bool = False, extra: Optional[Tensor] = None) -> Iterator[DecodedStep]:
        """The decode loop, one step at a time from the handed-over state (also what introspection records); with
        `sample`, each step emits and feeds back a draw from its predictive distribution instead of its point.
        `extra` [B, steps, E] is fed beside the previous value (the step's calendar, the static embeddings)."""
        for k in range(steps):
            step_input = previous if extra is None else torch.cat([previous, extra[:, k]], dim=-1)
            output, state = self.decoder(step_input[:, None, :], state)  # output [B, 1, P]
            raw = self.head(output[:, 0])[:, None]  # [B, 1, width]
            prediction = self.distribution.sample(raw) if sample else self.distribution.point(raw)
            yield DecodedStep(previous, output[:, 0], prediction, state, raw)
            use_truth = target is not None and teacher_forcing > 0 and (
                torch.rand((), generator=generator).item() < teacher_forcing
            )
            previous = target[:, k : k + 1] if use_truth else prediction


def build_model(config: ManyToOneConfig | Seq2SeqConfig, *, layout: InputLayout | int, horizon: int,
                loss: Optional[str] = None) -> nn.Module:
    """The configured model over windows of `layout` (or that many plain columns)."""
    distribution = head_for(config.head.kind, levels=config.head.levels or (), loss=loss)
    layout = InputLayout(plain=layout) if isinstance(layout, int) else layout
    if config.kind == "many_to_one":
        return ManyToOne(config, layout=layout, horizon=horizon, distribution=distribution)
    if config.kind == "seq2seq":
        return Seq2Seq(config, layout=layout, horizon=horizon, distribution=distribution)
    raise ValueError(f"unknown model kind {config.kind!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
