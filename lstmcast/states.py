"""h and c of every layer at every step (and the gates), recorded from the model's own nn.LSTM and checked against it.

How: `nn.LSTM` is called one step at a time with the state carried by hand, so each call returns `(h_n, c_n)` of
every layer for that step; the step calls run the same kernel as the fused call. Gates, when asked for, are recomputed
from the recorded h trajectory of each layer in one batched matrix product per layer (the PyTorch gate order is
i, f, g, o), and checked against the recorded c.

Shape legend: W windows, T lookback steps, K horizon steps, F features, L layers, U hidden_size, P output units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import torch
from torch import Tensor, nn

from lstmcast.models import LSTMState, ManyToOne, Seq2Seq

GATES = ("i", "f", "g", "o")


@dataclass
class Trajectory:
    """Per-step states of one nn.LSTM over one phase, in the layout the dump files use."""

    h: Tensor  # [W, T, L, P]: h_t of every layer (the layer's output; projected when proj_size is set)
    c: Tensor  # [W, T, L, U]
    gates: dict[str, Tensor] = field(default_factory=dict)  # name (i, f, g, o) -> [W, T, L, U]

    def stacked(self) -> tuple[Tensor, Tensor]:
        return self.h, self.c

    def last(self) -> LSTMState:
        """(h_n, c_n) as nn.LSTM returns them: [L, W, P] and [L, W, U]."""
        return self.h[:, -1].transpose(0, 1), self.c[:, -1].transpose(0, 1)


@dataclass
class Recording:
    """Everything recorded for a chunk of windows."""

    encoder: Trajectory
    prediction_scaled: Tensor  # [W, K]
    head_input: Tensor  # many_to_one: [W, P] (top layer's last output); seq2seq: [W, K, P] (decoder top output)
    decoder: Optional[Trajectory] = None
    decoder_input: Optional[Tensor] = None  # [W, K]: what each decoder step was fed


class _Recorder:
    """Copies each step's (h_n, c_n) into [W, T, L, .] buffers while they are still in cache."""

    def __init__(self, lstm: nn.LSTM, windows: int, steps: int, like: Tensor) -> None:
        units = lstm.proj_size or lstm.hidden_size
        self.h = like.new_empty(windows, steps, lstm.num_layers, units)
        self.c = like.new_empty(windows, steps, lstm.num_layers, lstm.hidden_size)

    def keep(self, t: int, state: LSTMState) -> None:
        self.h[:, t] = state[0].transpose(0, 1)
        self.c[:, t] = state[1].transpose(0, 1)

    def trajectory(self) -> Trajectory:
        return Trajectory(self.h, self.c)


@torch.inference_mode()
def step_lstm(lstm: nn.LSTM, x: Tensor, state: Optional[LSTMState] = None) -> tuple[Trajectory, LSTMState]:
    """Run `lstm` (batch_first) over x [W, T, F] one step at a time; keep every step's (h_n, c_n)."""
    recorder = _Recorder(lstm, x.shape[0], x.shape[1], x)
    for t in range(x.shape[1]):
        _, state = lstm(x[:, t : t + 1], state)
        recorder.keep(t, state)
    return recorder.trajectory(), state


@torch.inference_mode()
def record(model: nn.Module, x: Tensor) -> Recording:
    """Record a chunk of windows x [W, T, F] through a many_to_one or seq2seq model in eval mode."""
    model.eval()
    if isinstance(model, ManyToOne):
        trajectory, (h, _) = step_lstm(model.lstm, x)
        head_input = h[-1]  # == output[:, -1]: the top layer's last step
        return Recording(trajectory, model.head(head_input), head_input)
    if isinstance(model, Seq2Seq):
        encoder, state = step_lstm(model.encoder, x)
        return decode(model, encoder, x[:, -1, :1], state)
    raise TypeError(f"cannot record states of {type(model).__name__}")


@torch.inference_mode()
def decode(model: Seq2Seq, encoder: Trajectory, previous: Tensor, state: LSTMState) -> Recording:
    """Run the decoder from the handed-over state exactly as Seq2Seq.decode_step does, recording every step."""
    recorder = _Recorder(model.decoder, previous.shape[0], model.horizon, previous)
    inputs, outputs, predictions = [], [], []
    for k in range(model.horizon):
        inputs.append(previous)
        output, state = model.decoder(previous[:, None, :], state)
        previous = model.head(output[:, 0])
        outputs.append(output[:, 0])
        predictions.append(previous)
        recorder.keep(k, state)
    return Recording(encoder, torch.cat(predictions, 1), torch.stack(outputs, 1), recorder.trajectory(),
                     torch.cat(inputs, 1))


@torch.inference_mode()
def record_stream(model: nn.Module, x: Tensor) -> Recording:
    """One continuous pass over x [1, M, F] from a zero state (what a stateful model carries), and the forecast the
    head (or the decoder) would make from every step's state: prediction_scaled [M, K]."""
    model.eval()
    lstm = model.lstm if isinstance(model, ManyToOne) else model.encoder
    trajectory, _ = step_lstm(lstm, x)
    h, c = trajectory.h[0], trajectory.c[0]  # [M, L, P], [M, L, U]
    if isinstance(model, ManyToOne):
        return Recording(trajectory, model.head(h[:, -1]), h[:, -1])
    state = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())  # every step's state as a batch
    decoded = decode(model, trajectory, x[0, :, :1], state)
    return Recording(trajectory, decoded.prediction_scaled, h[:, -1])


@dataclass
class Recorded:
    """One chunk's recording, with the seconds its states and its gates took (on a worker thread)."""

    x: Tensor
    recording: Recording
    state_seconds: float
    gate_seconds: float


def record_chunks(model: nn.Module, chunks: Iterable[Tensor], *, gates: bool = False,
                  workers: Optional[int] = None, stream: bool = False) -> Iterator[Recorded]:
    """Record chunks of windows in order, `workers` chunks at a time, each worker running torch on one thread.

    One step of nn.LSTM on a few hundred windows is too small to keep two cores busy, and the per-call cost only
    amortises over large chunks, where the kernels fall out of cache; independent chunks on single-threaded workers
    keep every core on cache-sized work. At most `workers` + 1 chunks are in flight, so memory stays bounded.
    With `stream`, each chunk is one series [1, M, F] recorded by `record_stream`."""
    import time
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    workers = max(1, min(workers or threads, 8))
    lstm = model.lstm if isinstance(model, ManyToOne) else model.encoder

    def work(x: Tensor) -> Recorded:
        started = time.perf_counter()
        recording = record_stream(model, x) if stream else record(model, x)
        middle = time.perf_counter()
        if gates:
            add_gates(lstm, recording.encoder, x)
            if recording.decoder is not None:
                add_gates(model.decoder, recording.decoder, recording.decoder_input[:, :, None],
                          recording.encoder.last())
        return Recorded(x, recording, middle - started, time.perf_counter() - middle)

    if workers == 1:
        yield from map(work, chunks)
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()
            for x in chunks:
                pending.append(pool.submit(work, x))
                if len(pending) > workers:  # keep `workers` busy while the caller handles the oldest
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(threads)


def lstm_weights(lstm: nn.LSTM, layer: int) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """(W_ih [4U, in], W_hh [4U, P], b_ih + b_hh [4U], W_hr [P, U] or None) of one layer."""
    suffix = f"_l{layer}"
    bias = getattr(lstm, "bias_ih" + suffix) + getattr(lstm, "bias_hh" + suffix)
    projection = getattr(lstm, "weight_hr" + suffix) if lstm.proj_size else None
    return getattr(lstm, "weight_ih" + suffix), getattr(lstm, "weight_hh" + suffix), bias, projection


@torch.inference_mode()
def add_gates(lstm: nn.LSTM, trajectory: Trajectory, x: Tensor, initial: Optional[LSTMState] = None,
              *, block: int = 64) -> None:
    """Gate activations from the recorded h trajectory (x [W, T, F] the inputs): per layer, matrix products over
    x_t and h_{t-1} for all steps of a block of windows small enough to stay in cache.

    tanh(z) is computed as 2 sigmoid(2z) - 1 (the g rows of the weights are doubled once), so a single sigmoid pass
    covers all four gates; it agrees with torch.tanh to float32 rounding."""
    h, _ = trajectory.stacked()  # [W, T, L, P]
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
            previous = torch.cat([first[rows], h[rows, :-1, layer]], dim=1).view(-1, units)  # h_{t-1}
            z = torch.addmm(bias, layer_input[rows].reshape(-1, w_ih.shape[0]), w_ih).addmm_(previous, w_hh)
            z = z.view(-1, steps, 4, hidden).sigmoid_()  # PyTorch's gate order: i, f, g, o
            z[:, :, 2].mul_(2.0).sub_(1.0)
            for k, name in enumerate(GATES):
                gates[name][rows, :, layer] = z[:, :, k]
        layer_input = h[:, :, layer]
    trajectory.gates = gates


@torch.inference_mode()
def gate_consistency(lstm: nn.LSTM, trajectory: Trajectory, initial: Optional[LSTMState] = None) -> float:
    """Max |c_t - (f c_{t-1} + i g)| and |h_t - o tanh(c_t)| (projected if proj_size): the gates explain the states."""
    h, c = trajectory.stacked()  # [W, T, L, P], [W, T, L, U]
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


@torch.inference_mode()
def self_check(model: nn.Module, x: Tensor, recording: Recording) -> dict[str, float]:
    """Compare the recording with the model's own fused pass: nn.LSTM's output and (h_n, c_n), and the forecast."""
    lstm = model.lstm if isinstance(model, ManyToOne) else model.encoder
    output, (h_n, c_n) = lstm(x)
    last_h, last_c = recording.encoder.last()
    errors = {
        "output_vs_top_h": float((output - recording.encoder.h[:, :, -1]).abs().max()),
        "h_n_vs_last_h": float((h_n - last_h).abs().max()),
        "c_n_vs_last_c": float((c_n - last_c).abs().max()),
        "prediction": float((model(x)[0] - recording.prediction_scaled).abs().max()),
    }
    if recording.decoder is not None:
        _, (dh, dc) = model(x)
        decoder_h, decoder_c = recording.decoder.last()
        errors["decoder_h_n_vs_last_h"] = float((dh - decoder_h).abs().max())
        errors["decoder_c_n_vs_last_c"] = float((dc - decoder_c).abs().max())
    return errors


def load(path):
    """Arrays and metadata of a dump written by `lstmcast dump-states` (any format), without pickle."""
    from lstmcast.statefiles import read

    return read(path)
