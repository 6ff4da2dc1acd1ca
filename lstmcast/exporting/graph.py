"""A trained model as a graph with its LSTM state in plain sight: inputs (window, h0, c0), outputs the forecast, the
head's raw numbers and (h_n, c_n) of every layer, so a runtime can carry the state itself (streaming, or a window
split in parts). Each LSTM is written out cell by cell in the same arithmetic as nn.LSTM (ONNX's LSTM operator has
no projection, so `proj_size` could not be exported otherwise); the exported numbers are checked against the model.

Shape legend: B batch, T steps, C window columns, H horizon, L layers, U hidden_size, P output units."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmcast.models.lstm import LSTMState, lstm_weights


def cells(lstm: nn.LSTM, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
    """nn.LSTM (batch_first, eval mode) over x [B, T, F] from `state`, one explicit cell per layer and step:
    the top layer's output [B, T, P] and (h_n [L, B, P], c_n [L, B, U])."""
    h = [state[0][layer] for layer in range(lstm.num_layers)]
    c = [state[1][layer] for layer in range(lstm.num_layers)]
    outputs = []
    for t in range(x.shape[1]):
        below = x[:, t]
        for layer in range(lstm.num_layers):
            w_ih, w_hh, bias, projection = lstm_weights(lstm, layer)
            i, f, g, o = (below @ w_ih.T + h[layer] @ w_hh.T + bias).chunk(4, dim=-1)
            c[layer] = f.sigmoid() * c[layer] + i.sigmoid() * g.tanh()
            h[layer] = o.sigmoid() * c[layer].tanh()
            if projection is not None:
                h[layer] = h[layer] @ projection.T
            below = h[layer]
        outputs.append(below)
    return torch.stack(outputs, 1), (torch.stack(h, 0), torch.stack(c, 0))


class Graph(nn.Module):
    """forward(window [B, T, C], h0, c0) -> forecast [B, H] (scaled), raw [B, H, width], h_n, c_n of the encoder,
    and for a seq2seq model the decoder's h_n, c_n after the last step. h0, c0 are the encoder's starting state
    (zeros for a forecast from a fresh window, as `predict` makes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.eval()  # the exporter restores the wrapper's mode afterwards, and with it the model's

    def forward(self, window: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, ...]:
        model = self.model
        top, (h, c) = cells(model.encoder, model.inputs.encoder(window), (h0, c0))
        if model.decoder is None:
            raw = model.outputs(top[:, -1])
            return model.distribution.point(raw), raw, h, c
        extra = model.inputs.decoder(window[:, -1], model.horizon)
        previous, state, raws = window[:, -1, :1], (h, c), []
        for k in range(model.horizon):
            step = previous if extra is None else torch.cat([previous, extra[:, k]], -1)
            output, state = cells(model.decoder, step[:, None, :], state)
            raw = model.head(output[:, 0])[:, None]
            raws.append(raw)
            previous = model.distribution.point(raw)
        raw = torch.cat(raws, 1)
        return model.distribution.point(raw), raw, h, c, state[0], state[1]


def names(model: nn.Module) -> tuple[list[str], list[str]]:
    """The graph's input and output names."""
    outputs = ["forecast", "raw", "h_n", "c_n"] + (["decoder_h_n", "decoder_c_n"] if model.decoder is not None else [])
    return ["window", "h0", "c0"], outputs
