"""Gate activations recomputed from a recorded h trajectory, and the check that they explain the recorded states.

PyTorch's gate order is i, f, g, o; with proj_size, h = W_hr (o * tanh(c)).
Shape legend: W windows, T steps, L layers, U hidden_size, P output units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor, nn

from lstmcast.introspect.buffers import Buffers, new_empty
from lstmcast.models.lstm import LSTMState, lstm_weights

if TYPE_CHECKING:
    from lstmcast.introspect.record import Trajectory

GATES = ("i", "f", "g", "o")


ROWS_PER_PRODUCT = 1024  # rows of one matrix product: its operand and output stay in a core's cache


@torch.inference_mode()
def add_gates(lstm: nn.LSTM, trajectory: "Trajectory", x: Tensor, initial: Optional[LSTMState] = None,
              *, buffers: Optional[Buffers] = None) -> None:
    """Gate activations from the recorded h trajectory (x [W, T, F] the inputs, `initial` the state before step 0):
    per layer, matrix products over x_t and h_{t-1} of all windows for a block of steps small enough to stay in cache.

    Each block's input and previous h are laid side by side once (whole [W, .] rows per step, copied from the
    recorder's step-major buffers), so one matrix product with the bias (addmm) writes the pre-activations straight
    into one step-major buffer [L, T, W, 4U], activated in place: no gate value is copied; each gate is a view of it
    in the dump's [W, T, L, U] layout. tanh(z) is computed as 2 sigmoid(2z) - 1 (the g rows of the weights are doubled
    once), so a single sigmoid pass covers all four gates; it agrees with torch.tanh to float32 rounding. The buffer
    comes from `buffers` when given."""
    h = trajectory.h  # [W, T, L, P]
    windows, steps, layers, units = h.shape
    hidden = lstm.hidden_size
    doubled = torch.ones(4 * hidden, dtype=h.dtype)
    doubled[2 * hidden : 3 * hidden] = 2.0
    by_step = h.permute(2, 1, 0, 3)  # [L, T, W, P]
    store = new_empty(buffers, (layers, steps, windows, 4 * hidden), h)
    block = max(1, ROWS_PER_PRODUCT // max(windows, 1))  # steps per product
    layer_input = x.transpose(0, 1)  # [T, W, F]
    for layer in range(layers):
        w_ih, w_hh, bias, _ = lstm_weights(lstm, layer)
        width = w_ih.shape[1]
        # one product per block: b + [x_t, h_{t-1}] @ [W_ih; W_hh] (g rows doubled), written into the store
        stacked = (torch.cat([w_ih, w_hh], dim=1) * doubled[:, None]).T.contiguous()
        shift = bias * doubled
        first = initial[0][layer] if initial is not None else h.new_zeros(windows, units)  # h before step 0
        for start in range(0, steps, block):
            stop = min(start + block, steps)
            operand = h.new_empty(stop - start, windows, width + units)
            operand[..., :width] = layer_input[start:stop]
            previous = operand[..., width : width + units]  # h_{t-1}
            if start == 0:
                previous[0] = first
                previous[1:] = by_step[layer, : stop - 1]
            else:
                previous.copy_(by_step[layer, start - 1 : stop - 1])
            z = store[layer, start:stop].view(-1, 4 * hidden)  # contiguous: written in place
            torch.addmm(shift, operand.view(-1, width + units), stacked, out=z).sigmoid_()  # gate order: i, f, g, o
            z[:, 2 * hidden : 3 * hidden].mul_(2.0).sub_(1.0)
        layer_input = by_step[layer]
    laid_out = store.permute(2, 1, 0, 3)  # [W, T, L, 4U], a view
    trajectory.gates = {name: laid_out[..., k * hidden : (k + 1) * hidden] for k, name in enumerate(GATES)}


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
