"""Stateful forecasting: the encoder run over a series one row at a time with its (h, c) carried, from the series'
first row or from a saved state, and the forecast made from the final state.

One step of nn.LSTM's kernel per row (`models.lstm.stepped`), as `dump-states --mode stream` records it: a fused
call over many rows computes the input projection of all of them in one matrix product whose rounding depends on how
many rows there are, so only row-by-row calls make a stream continued from a saved state equal, bit for bit, to the
stream run in one go.
The model was trained from a zero state over windows of `lookback` rows; a stream forecast is what a stateful
deployment of it computes, not the window forecast `predict` gives by default. Shape legend: M rows, C columns,
L layers, K steps."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lstmcast.errors import ConfigError
from lstmcast.forecasting.predict import check_calendar_reach
from lstmcast.models.lstm import LSTMState, stepped


@torch.no_grad()
def carry(model: nn.Module, x: Tensor, state: Optional[LSTMState] = None, *,
          keep: Sequence[int] = ()) -> tuple[Optional[LSTMState], list[LSTMState]]:
    """The encoder's state after the rows x [1, M, C], from `state` (None: zero, the series' first row), and the
    states after the rows at positions `keep` (a drift reference's)."""
    model.eval()
    wanted, kept = {int(row) for row in keep}, []
    for row, state in enumerate(stepped(model.encoder, model.inputs.encoder(x), state)):  # no rows: stays as given
        if row in wanted:
            kept.append(state)
    return state, kept


@torch.no_grad()
def forecast_from_state(model: nn.Module, state: LSTMState, last_row: Tensor, steps: int) -> np.ndarray:
    """Scaled point forecasts [steps] from the state after a row whose values (scaled, covariates included) are
    last_row [1, C]: the head on the top layer's h (many_to_one) or the decode loop from the state (seq2seq)."""
    model.eval()
    if model.decoder is None:
        if steps > model.horizon:
            raise ConfigError(f"--horizon {steps}: a many_to_one model's head gives {model.horizon} steps from a "
                              "state, no more; ask for at most that many")
        return model.point_from(state[0][-1])[0, :steps].double().numpy()
    check_calendar_reach(model, steps)
    extra = model.inputs.decoder(last_row, steps)
    decoded = model.decode(last_row[:, :1], state, steps=steps, extra=extra)
    return torch.cat([step.prediction for step in decoded], dim=1)[0].double().numpy()
