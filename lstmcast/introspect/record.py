"""h and c of every layer at every step, recorded from the model's own nn.LSTM.

How: `nn.LSTM`'s kernel is called one step at a time with the state carried by hand (`models.lstm.stepped`), so
each call returns `(h_n, c_n)` of every layer for that step; the step calls run the same kernel as the fused call. A
seq2seq decoder is recorded by running the model's own decode loop (`Seq2Seq.decode`) and keeping each step's state.

Shape legend: W windows, T lookback steps, K horizon steps, F features, L layers, U hidden_size, P output units.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import torch
from torch import Tensor, nn

from lstmcast.introspect.buffers import Buffers, new_empty
from lstmcast.introspect.gates import add_gates
from lstmcast.models.lstm import LSTMState, stepped


@dataclass
class Trajectory:
    """Per-step states of one nn.LSTM over one phase, in the layout the dump files use."""

    h: Tensor  # [W, T, L, P]: h_t of every layer (the layer's output; projected when proj_size is set); may be a view
    c: Tensor  # [W, T, L, U]
    gates: dict[str, Tensor] = field(default_factory=dict)  # name (i, f, g, o) -> [W, T, L, U]

    def last(self) -> LSTMState:
        """(h_n, c_n) as nn.LSTM returns them: [L, W, P] and [L, W, U]."""
        return self.h[:, -1].transpose(0, 1), self.c[:, -1].transpose(0, 1)


@dataclass
class Recording:
    """Everything recorded for a chunk of windows (or of the stream)."""

    encoder: Trajectory
    prediction_scaled: Tensor  # [W, K] (stream: [M, K], the forecast from every step's state)
    head_input: Tensor  # many_to_one: [W, P] (top layer's last output); seq2seq: [W, K, P] (decoder top output)
    decoder: Optional[Trajectory] = None
    decoder_input: Optional[Tensor] = None  # [W, K]: the value each decoder step was fed
    decoder_extra: Optional[Tensor] = None  # [W, K, E]: fed beside it (the step's calendar, static embeddings)
    initial: Optional[LSTMState] = None  # the encoder state the chunk started from (stream chunks after the first)


class _Recorder:
    """Copies each step's (h_n, c_n) [L, W, .] whole into step-major [T, L, W, .] buffers while they are still in
    cache, and hands them out as [W, T, L, .] views: one contiguous copy per step instead of a transposing one (a
    tenth of the recording's time). Readers that need the windows contiguous gather them anyway (`chunk_arrays`)."""

    def __init__(self, lstm: nn.LSTM, windows: int, steps: int, like: Tensor, buffers: Optional[Buffers]) -> None:
        units = lstm.proj_size or lstm.hidden_size
        self.h = new_empty(buffers, (steps, lstm.num_layers, windows, units), like)
        self.c = new_empty(buffers, (steps, lstm.num_layers, windows, lstm.hidden_size), like)

    def keep(self, t: int, state: LSTMState) -> None:
        self.h[t] = state[0]
        self.c[t] = state[1]

    def trajectory(self) -> Trajectory:
        return Trajectory(self.h.permute(2, 0, 1, 3), self.c.permute(2, 0, 1, 3))


@torch.inference_mode()
def step_lstm(lstm: nn.LSTM, x: Tensor, state: Optional[LSTMState] = None, *,
              buffers: Optional[Buffers] = None) -> tuple[Trajectory, LSTMState]:
    """Run `lstm` (batch_first) over x [W, T, F] one step at a time (`stepped`); keep every step's (h_n, c_n)."""
    recorder = _Recorder(lstm, x.shape[0], x.shape[1], x, buffers)
    for t, state in enumerate(stepped(lstm, x, state)):
        recorder.keep(t, state)
    return recorder.trajectory(), state


@torch.inference_mode()
def record(model: nn.Module, x: Tensor, *, buffers: Optional[Buffers] = None) -> Recording:
    """Record a chunk of windows x [W, T, F] through the model (in eval mode), encoder and decoder alike."""
    model.eval()
    encoder, state = step_lstm(model.encoder, model.inputs.encoder(x), buffers=buffers)
    if model.decoder is None:
        head_input = state[0][-1]  # == output[:, -1]: the top layer's last step
        return Recording(encoder, model.point_from(head_input), head_input)
    return decode(model, encoder, x[:, -1], state, buffers=buffers)


@torch.inference_mode()
def decode(model: nn.Module, encoder: Trajectory, last: Tensor, state: LSTMState, *,
           buffers: Optional[Buffers] = None) -> Recording:
    """Run the model's own decode loop from the handed-over state and each window's last row [W, C], keeping every
    step's states."""
    recorder = _Recorder(model.decoder, last.shape[0], model.horizon, last, buffers)
    extra = model.inputs.decoder(last, model.horizon)
    steps = []
    for k, step in enumerate(model.decode(last[:, :1], state, steps=model.horizon, extra=extra)):
        recorder.keep(k, step.state)
        steps.append(step)
    return Recording(encoder, torch.cat([s.prediction for s in steps], 1), torch.stack([s.output for s in steps], 1),
                     recorder.trajectory(), torch.cat([s.fed for s in steps], 1), extra)


@torch.inference_mode()
def record_stream(model: nn.Module, x: Tensor, state: Optional[LSTMState] = None, *,
                  buffers: Optional[Buffers] = None) -> tuple[Recording, LSTMState]:
    """One continuous pass over a stretch x [1, M, F] of the series, from `state` (zero at the series' start), and
    the forecast the head (or the decoder) would make from every step's state: prediction_scaled [M, K]. Returns the
    state to carry into the next stretch, so a series cut into chunks is recorded exactly as in one pass."""
    model.eval()
    trajectory, carried = step_lstm(model.encoder, model.inputs.encoder(x), state, buffers=buffers)
    h, c = trajectory.h[0], trajectory.c[0]  # [M, L, P], [M, L, U]
    if model.decoder is None:
        recording = Recording(trajectory, model.point_from(h[:, -1]), h[:, -1])
    else:
        every_step = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())  # each step's state, a batch
        recording = decode(model, trajectory, x[0], every_step, buffers=buffers)
    recording.initial = state
    return recording, carried


@dataclass
class Recorded:
    """One chunk's recording, with the seconds its states and its gates took (on a worker thread)."""

    x: Tensor
    recording: Recording
    state_seconds: float
    gate_seconds: float


def _with_gates(model: nn.Module, x: Tensor, recording: Recording, *, gates: bool, stream: bool,
                started: float, buffers: Buffers) -> Recorded:
    middle = time.perf_counter()
    if gates:
        add_gates(model.encoder, recording.encoder, model.inputs.encoder(x), recording.initial, buffers=buffers)
        if recording.decoder is not None:  # the decoder starts from each window's last state (stream: every step's)
            handed = _every_step_state(recording.encoder) if stream else recording.encoder.last()
            add_gates(model.decoder, recording.decoder, decoder_inputs(recording), handed, buffers=buffers)
    return Recorded(x, recording, middle - started, time.perf_counter() - middle)


def decoder_inputs(recording: Recording) -> Tensor:
    """[W, K, 1 + E]: everything each decoder step read (the fed value, then any extra)."""
    fed = recording.decoder_input[:, :, None]
    return fed if recording.decoder_extra is None else torch.cat([fed, recording.decoder_extra], dim=-1)


def _every_step_state(trajectory: Trajectory) -> LSTMState:
    """Stream mode: the state after each step [L, M, .], the decoder's starting state for that step's forecast."""
    return trajectory.h[0].transpose(0, 1), trajectory.c[0].transpose(0, 1)


def record_chunks(model: nn.Module, chunks: Iterable[Tensor], *, gates: bool = False,
                  workers: Optional[int] = None) -> Iterator[Recorded]:
    """Record chunks of windows in order, `workers` chunks at a time, each worker running torch on one thread.

    One step of nn.LSTM on a few hundred windows is too small to keep two cores busy, and the per-call cost only
    amortises over large chunks, where the kernels fall out of cache; independent chunks on single-threaded workers
    keep every core on cache-sized work. At most `workers` + 1 chunks are in flight, so memory stays bounded, and
    their buffers are reused once the caller has dropped a chunk (kept ones get new buffers)."""
    threads = torch.get_num_threads()
    workers = max(1, min(workers or threads, 8))
    buffers = Buffers(limit=6 * (workers + 2))  # per chunk: h, c, gates and the decoder's; in flight + the caller's

    def work(x: Tensor) -> Recorded:
        started = time.perf_counter()
        recording = record(model, x, buffers=buffers)
        return _with_gates(model, x, recording, gates=gates, stream=False, started=started, buffers=buffers)

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


def record_stream_chunks(model: nn.Module, chunks: Iterable[Tensor], *, gates: bool = False) -> Iterator[Recorded]:
    """Stretches [1, M, F] of one series in order, each starting from the state the previous one ended in."""
    state, buffers = None, Buffers()
    for x in chunks:
        started = time.perf_counter()
        recording, state = record_stream(model, x, state, buffers=buffers)
        yield _with_gates(model, x, recording, gates=gates, stream=True, started=started, buffers=buffers)
