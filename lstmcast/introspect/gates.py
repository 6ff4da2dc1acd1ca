"""Gate activations recomputed from a recorded h trajectory, and the check that they explain the recorded states.

PyTorch's gate order is i, f, g, o; with proj_size, h = W_hr (o * tanh(c)).
Shape legend: W windows, T steps, L layers, U hidden_size, P output units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor, nn

from lstmcast.models.lstm import LSTMState, lstm_weights

if TYPE_CHECKING:
    from lstmcast.introspect.record import Trajectory

GATES = ("i", "f", "g", "o")


@torch.inference_mode()
def add_gates(lstm: nn.LSTM, trajectory: "Trajectory", x: Tensor, initial: Optional[LSTMState] = None,
              *, block: int = 64) -> None:
    """Gate activations from the recorded h trajectory (x [W, T, F] the inputs, `initial` the state before step 0):
    per layer, matrix products over x_t and h_{t-1} for all steps of a block of windows small enough to stay in cache.

    tanh(z) is computed as 2 sigmoid(2z) - 1 (the g rows of the weights are doubled once), so a single sigmoid pass
    covers all four gates; it agrees with torch.tanh to float32 rounding."""
    h = trajectory.h  # [W, T, L, P]
    windows, steps, layers, units = h.shape
    hidden = lstm.hidden_size
    doubled = torch.ones(4 * hidden, dtype=h.dtype)
    doubled[2 * hidden : 3 * hidden] = 2.0
    gates = {name: h.new_empty(windows, steps, layers, hidden) for name in GATES}
    layer_input = x
    for layer in range(layers):
        w_ih, w_hh, bias, _ = lstm_weights(lstm, layer)
        w_ih, w_hh, bias = (w_ih * doubled[:, None]).T.contiguous(), (w_hh * doubled[:, None]).T.contiguous(), \
            bias * doubled
        first = initial[0][layer][:, None] if initial is not None else h.new_zeros(windows, 1, units)
        for start in range(0, windows, block):
            rows = slice(start, min(start + block, windows))
            previous = torch.cat([first[rows], h[rows, :-1, layer]], dim=1).reshape(-1, units)  # h_{t-1}
            z = torch.addmm(bias, layer_input[rows].reshape(-1, w_ih.shape[0]), w_ih).addmm_(previous, w_hh)
            z = z.view(-1, steps, 4, hidden).sigmoid_()  # PyTorch's gate order: i, f, g, o
            z[:, :, 2].mul_(2.0).sub_(1.0)
            for k, name in enumerate(GATES):
                gates[name][rows, :, layer] = z[:, :, k]
        layer_input = h[:, :, layer]
    trajectory.gates = gates


@torch.inference_mode()
def gate_consistency(lstm: nn.LSTM, trajectory: "Trajectory", initial: Optional[LSTMState] = None) -> float:
    """Max |c_t - (f c_{t-1} + i g)| and |h_t - o tanh(c_t)| (projected if proj_size): the gates explain the states."""
    h, c = trajectory.h, trajectory.c  # [W, T, L, P], [W, T, L, U]
    i, f, g, o = (trajectory.gates[name] for name in GATES)
    c0 = initial[1].transpose(0, 1) if initial is not None else torch.zeros_like(c[:, 0])
    previous = torch.cat([c0[:, None], c[:, :-1]], dim=1)
    errors = [float((f * previous + i * g - c).abs().max())]
    unprojected = o * torch.tanh(c)
    for layer in range(c.shape[2]):
        _, _, _, projection = lstm_weights(lstm, layer)
        out = unprojected[:, :, layer] @ projection.T if projection is not None else unprojected[:, :, layer]
        errors.append(float((out - h[:, :, layer]).abs().max()))
    return max(errors)
