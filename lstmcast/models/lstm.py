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


def output_units(config: ManyToOneConfig | Seq2SeqConfig) -> int:
    return config.proj_size or config.hidden_size


class ManyToOne(nn.Module):
    """Window in, whole horizon out: the top layer's last output (h_n[-1]) feeds one linear head."""

    decoder = None

    def __init__(self, config: ManyToOneConfig, *, input_size: int, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.lstm = lstm_for(config, input_size)  # the name keeps weight files of every version loadable
        self.head = nn.Linear(output_units(config), horizon)

    @property
    def encoder(self) -> nn.LSTM:
        return self.lstm

    def forward(self, x: Tensor, state: Optional[LSTMState] = None, *, target: Optional[Tensor] = None,
                teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None,
                horizon: Optional[int] = None) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> y [B, H]. target, teacher_forcing and generator are accepted for a uniform call and unused:
        the head emits the whole horizon at once. horizon (<= the trained one) keeps the first steps."""
        output, state = self.lstm(x, state)  # output [B, T, P]: the top layer's h_t at every step
        return self.head(output[:, -1])[:, :horizon], state  # output[:, -1] is h_n[-1]


class DecodedStep(NamedTuple):
    """One decoder step: what it was fed [B, 1], its top-layer output [B, P], its prediction [B, 1], its state."""

    fed: Tensor
    output: Tensor
    prediction: Tensor
    state: LSTMState


class Seq2Seq(nn.Module):
    """An encoder's final (h, c) seeds a decoder that feeds back its own prediction, one step at a time."""

    def __init__(self, config: Seq2SeqConfig, *, input_size: int, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.encoder = lstm_for(config, input_size)
        self.decoder = lstm_for(config, 1)  # input: the previous step's (scaled) target
        self.head = nn.Linear(output_units(config), 1)

    def forward(self, x: Tensor, state: Optional[LSTMState] = None, *, target: Optional[Tensor] = None,
                teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None,
                horizon: Optional[int] = None) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> y [B, H]. With `target` [B, H] and teacher_forcing > 0, each step feeds the true previous
        value instead of the prediction with that probability (one draw per step and batch). `horizon` may exceed the
        trained one: the decoder is autoregressive."""
        _, state = self.encoder(x, state)
        steps = list(self.decode(x[:, -1, :1], state, steps=horizon or self.horizon, target=target,
                                 teacher_forcing=teacher_forcing, generator=generator))
        return torch.cat([step.prediction for step in steps], dim=1), steps[-1].state

    def decode(self, previous: Tensor, state: LSTMState, *, steps: int, target: Optional[Tensor] = None,
               teacher_forcing: float = 0.0, generator: Optional[torch.Generator] = None) -> Iterator[DecodedStep]:
        """The decode loop, one step at a time from the handed-over state (also what introspection records)."""
        for k in range(steps):
            output, state = self.decoder(previous[:, None, :], state)  # output [B, 1, P]
            prediction = self.head(output[:, 0])
            yield DecodedStep(previous, output[:, 0], prediction, state)
            use_truth = target is not None and teacher_forcing > 0 and (
                torch.rand((), generator=generator).item() < teacher_forcing
            )
            previous = target[:, k : k + 1] if use_truth else prediction


def build_model(config: ManyToOneConfig | Seq2SeqConfig, *, input_size: int, horizon: int) -> nn.Module:
    if config.kind == "many_to_one":
        return ManyToOne(config, input_size=input_size, horizon=horizon)
    if config.kind == "seq2seq":
        return Seq2Seq(config, input_size=input_size, horizon=horizon)
    raise ValueError(f"unknown model kind {config.kind!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
