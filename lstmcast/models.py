"""The two LSTM forecasters. Layers and forward only.

Shape legend: B batch, T lookback steps, F input features, H horizon, L layers,
U hidden_size, P output units (proj_size if set, else hidden_size).
"""

from __future__ import annotations

from typing import Optional

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
    """Window in, whole horizon out: the top layer's last output feeds one linear head."""

    def __init__(self, config: ManyToOneConfig, *, input_size: int, horizon: int) -> None:
        super().__init__()
        self.lstm = lstm_for(config, input_size)
        self.head = nn.Linear(output_units(config), horizon)

    def forward(self, x: Tensor, state: Optional[LSTMState] = None) -> tuple[Tensor, LSTMState]:
        output, state = self.lstm(x, state)  # output [B, T, P]: the top layer's h_t at every step
        return self.head(output[:, -1]), state  # [B, H]


class Seq2Seq(nn.Module):
    """An encoder's final (h, c) seeds a decoder that feeds back its own prediction, one step at a time."""

    def __init__(self, config: Seq2SeqConfig, *, input_size: int, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.encoder = lstm_for(config, input_size)
        self.decoder = lstm_for(config, 1)  # input: the previous step's (scaled) target
        self.head = nn.Linear(output_units(config), 1)

    def forward(
        self,
        x: Tensor,
        state: Optional[LSTMState] = None,
        *,
        target: Optional[Tensor] = None,
        teacher_forcing: float = 0.0,
        generator: Optional[torch.Generator] = None,
    ) -> tuple[Tensor, LSTMState]:
        """x [B, T, F] -> y [B, H]. With `target` [B, H] and teacher_forcing > 0, each step feeds the
        true previous value instead of the prediction with that probability (one draw per step and batch)."""
        _, state = self.encoder(x, state)
        previous = x[:, -1, :1]  # [B, 1]: the last observed target
        steps = []
        for k in range(self.horizon):
            y, state = self.decode_step(previous, state)
            steps.append(y)
            use_truth = target is not None and teacher_forcing > 0 and (
                torch.rand((), generator=generator).item() < teacher_forcing
            )
            previous = target[:, k : k + 1] if use_truth else y
        return torch.cat(steps, dim=1), state

    def decode_step(self, previous: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """previous [B, 1] -> (prediction [B, 1], state after the step)."""
        output, state = self.decoder(previous[:, None, :], state)  # output [B, 1, P]
        return self.head(output[:, 0]), state


def build_model(config: ManyToOneConfig | Seq2SeqConfig, *, input_size: int, horizon: int) -> nn.Module:
    if config.kind == "many_to_one":
        return ManyToOne(config, input_size=input_size, horizon=horizon)
    if config.kind == "seq2seq":
        return Seq2Seq(config, input_size=input_size, horizon=horizon)
    raise ValueError(f"unknown model kind {config.kind!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
