"""dump-states cost against the model's fastest plain fused forward, in one process.

    python benchmarks/bench_states.py [--windows 5000] [--repeats 5] [--own-cell]

The model is the MSFT many-to-one config's (2-layer LSTM, hidden 64, lookback 64), randomly initialised (the cost does
not depend on the weights). Candidates and the reference are interleaved; medians are reported. The reference is
the fastest fused forward found: at several batch sizes, on the windows as views or as one contiguous copy, on two
threads or on single-threaded workers as the recording runs (each worker in inference mode: before 0.7.1 the workers
ran without it, which made that reference up to a third slower than it is).

`--own-cell` adds the design lstmcast does not use, for its bound: states and gates from one pass of a hand-written
cell (the gates' matrix products done once instead of twice), with how far its states fall from nn.LSTM's own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from lstmcast.config import ManyToOneConfig
from lstmcast.introspect.record import record, record_chunks
from lstmcast.models.lstm import build_model, lstm_weights, stepped

BATCHES = (128, 256, 512, 1024, 2048)


def fused(model, x, batch):
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            model.lstm(x[start : start + batch])


def on_workers(work, x, batch):
    """`work` on each chunk of `batch` windows, on single-threaded workers as the recording runs (inference mode is
    per thread: `work` enters it itself)."""
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, (x[start : start + batch] for start in range(0, len(x), batch))))
    finally:
        torch.set_num_threads(threads)


def fused_workers(model, x, batch):
    """The fused forward with the same trick as the recording: chunks on single-threaded workers."""
    on_workers(torch.inference_mode()(model.lstm), x, batch)


def steps_alone(model, x, batch):
    """The floor of any exact per-step recording: nn.LSTM's kernel called step by step (`stepped`, as the recording
    calls it) on the recording's workers, nothing kept."""

    @torch.inference_mode()
    def step(chunk):
        for _ in stepped(model.lstm, chunk):
            pass

    on_workers(step, x, batch)


_own_buffers = threading.local()


def own_cell(lstm, chunk):
    """h, c and gates of every layer and step from the LSTM equations written out (float32, gates i, f, g, o; tanh
    as 2 sigmoid(2z) - 1, as the recording's gates): the input products of a layer in one matrix product, the
    recurrent ones a step at a time, all written straight into step-major buffers, kept per worker thread and
    reused (as the recording reuses its buffers). Returns (h, c, gates) [L, T, W, .]. Not what lstmcast records:
    these states are not nn.LSTM's own (see the printed difference)."""
    windows, steps, _ = chunk.shape
    hidden, layers = lstm.hidden_size, lstm.num_layers
    doubled = torch.ones(4 * hidden)
    doubled[2 * hidden : 3 * hidden] = 2.0
    key = (layers, steps, windows, hidden)
    if getattr(_own_buffers, "key", None) != key:
        _own_buffers.key = key
        _own_buffers.tensors = (torch.empty(layers, steps, windows, hidden), torch.empty(layers, steps, windows, hidden),
                                torch.empty(layers, steps, windows, 4 * hidden))
    h, c, gates = _own_buffers.tensors
    layer_input = chunk.transpose(0, 1).contiguous()  # [T, W, F]
    for layer in range(layers):
        w_ih, w_hh, bias, _ = lstm_weights(lstm, layer)
        w_ih, w_hh = (w_ih * doubled[:, None]).T.contiguous(), (w_hh * doubled[:, None]).T.contiguous()
        torch.addmm(bias * doubled, layer_input.view(steps * windows, -1), w_ih, out=gates[layer].view(-1, 4 * hidden))
        for t in range(steps):
            z = gates[layer, t]
            if t:
                z.addmm_(h[layer, t - 1], w_hh)
            z.sigmoid_()
            i, f, g, o = z.view(windows, 4, hidden).unbind(1)
            g.mul_(2.0).sub_(1.0)
            if t:
                torch.mul(f, c[layer, t - 1], out=c[layer, t]).addcmul_(i, g)
            else:
                torch.mul(i, g, out=c[layer, t])
            torch.mul(c[layer, t], 2.0, out=h[layer, t]).sigmoid_().mul_(2.0).sub_(1.0).mul_(o)
        layer_input = h[layer]
    return h, c, gates


def own_cells(model, x, batch):
    on_workers(torch.inference_mode()(lambda chunk: own_cell(model.lstm, chunk)), x, batch)


@torch.inference_mode()
def own_cell_difference(model, x) -> float:
    """Largest |h - nn.LSTM's h| and |c - nn.LSTM's c| of the hand-written cell over the first 512 windows."""
    chunk = x[:512]
    h, c, _ = own_cell(model.lstm, chunk)
    output, (h_n, c_n) = model.lstm(chunk)
    return max(float((h[-1] - output.transpose(0, 1)).abs().max()), float((h[:, -1] - h_n).abs().max()),
               float((c[:, -1] - c_n).abs().max()))


def states(model, x, batch, gates=False, workers=None):
    """What dump-states computes: h and c of every layer and step in the dump layout, optionally the gates."""
    chunks = (x[start : start + batch] for start in range(0, len(x), batch))
    for _ in record_chunks(model, chunks, gates=gates, workers=workers):
        pass


def write(model, x, batch, folder: Path):
    """Record and write h and c as .npy (the writing share of a dump), chunk by chunk."""
    from lstmcast.outputs.dumpfiles import NpyWriter, Spec

    layers, hidden, steps = model.lstm.num_layers, model.lstm.hidden_size, x.shape[1]
    specs = {"h": Spec((len(x), steps, layers, hidden), "float32"), "c": Spec((len(x), steps, layers, hidden), "float32")}
    writer = NpyWriter(folder, specs)
    seconds = 0.0
    for start in range(0, len(x), batch):
        encoder = record(model, x[start : start + batch]).encoder  # h, c in the layout the files use
        started = time.perf_counter()
        writer.write({"h": encoder.h.numpy(), "c": encoder.c.numpy()})
        seconds += time.perf_counter() - started
    writer.close({})
    return seconds


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--own-cell", action="store_true", help="also time a hand-written cell (not adopted)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=64, num_layers=2), layout=1,
                        horizon=5).eval()
    series = torch.randn(args.windows + 63)
    x = series.unfold(0, 64, 1)[:, :, None]  # [windows, 64, 1] views, as lstmcast builds them
    dense = x.contiguous()  # the reference may also read one contiguous copy (made outside the timing)
    candidates = {f"fused b={b}": (lambda b=b: fused(model, x, b)) for b in BATCHES}
    candidates["fused one batch"] = lambda: fused(model, dense, len(dense))
    candidates |= {f"fused workers b={b}": (lambda b=b: fused_workers(model, x, b)) for b in (128, 256, 512)}
    candidates |= {f"fused dense b={b}": (lambda b=b: fused(model, dense, b)) for b in BATCHES}
    candidates |= {f"fused workers dense b={b}": (lambda b=b: fused_workers(model, dense, b)) for b in (128, 256, 512)}
    candidates |= {f"steps alone b={b}": (lambda b=b: steps_alone(model, x, b)) for b in (256, 512, 1024)}
    candidates |= {f"h,c b={b}": (lambda b=b: states(model, x, b)) for b in BATCHES}
    candidates |= {f"h,c 1 worker b={b}": (lambda b=b: states(model, x, b, workers=1)) for b in (512, 1024)}
    candidates |= {f"h,c,gates b={b}": (lambda b=b: states(model, x, b, True)) for b in BATCHES}
    if args.own_cell:
        candidates |= {f"own cell b={b}": (lambda b=b: own_cells(model, x, b)) for b in (128, 256, 512)}
    for fn in candidates.values():  # warm up
        fn()
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):  # interleaved
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    median = {name: statistics.median(values) for name, values in times.items()}
    reference = min((v, k) for k, v in median.items() if k.startswith("fused"))
    best_states = min((v, k) for k, v in median.items() if k.startswith("h,c b"))
    best_gates = min((v, k) for k, v in median.items() if k.startswith("h,c,gates"))
    floor = min((v, k) for k, v in median.items() if k.startswith("steps alone"))
    with tempfile.TemporaryDirectory() as folder:
        write_s = write(model, x, int(best_states[1].split("=")[1]), Path(folder) / "states")
        size = sum(p.stat().st_size for p in Path(folder, "states").glob("*.npy"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.2f}; {args.windows} windows x 64 steps, 2 layers x 64 units; "
          f"median of {args.repeats}")
    print(f"{'candidate':<26} {'seconds':>8} {'x fastest fused':>16}")
    for name, value in median.items():
        print(f"{name:<26} {value:8.4f} {value / reference[0]:16.2f}")
    print(f"\nfastest fused forward: {reference[1]} {reference[0]:.4f} s "
          f"(one batch of all windows: {median['fused one batch']:.4f} s)")
    print(f"stepping nn.LSTM's kernel alone, nothing kept (the floor of exact per-step states): {floor[1]} "
          f"{floor[0]:.4f} s = {floor[0] / reference[0]:.2f}x")
    print(f"h and c, every layer and step: {best_states[1]} {best_states[0]:.4f} s = "
          f"{best_states[0] / reference[0]:.2f}x (target <= 1.5x)")
    print(f"with gates: {best_gates[1]} {best_gates[0]:.4f} s = {best_gates[0] / reference[0]:.2f}x (target <= 3x)")
    if args.own_cell:
        own = min((v, k) for k, v in median.items() if k.startswith("own cell"))
        print(f"not adopted, a hand-written cell (h, c, gates in one pass): {own[1]} {own[0]:.4f} s = "
              f"{own[0] / reference[0]:.2f}x; its states differ from nn.LSTM's by up to "
              f"{own_cell_difference(model, x):.1e}")
    print(f"writing h and c as .npy ({size / 2**20:.0f} MiB): {write_s:.4f} s "
          f"({write_s / reference[0]:.2f}x the fused forward; reported apart, as asked)")


if __name__ == "__main__":
    main()
