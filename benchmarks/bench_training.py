"""lstmcast's training epoch against the leanest plain-PyTorch loop on the same model, tensors and settings.

    python benchmarks/bench_training.py [--repeats 7] [--threads N]

Model and data: the MSFT many-to-one config (2-layer LSTM, hidden 64, lookback 64, horizon 5, batch 256, Adam,
gradient clipping 1.0, MSE) on the shipped MSFT daily log returns. One "epoch" is a pass over the training windows
in a random order plus the validation loss, as both loops need for early stopping. The two loops run interleaved,
from the same initial weights; medians are reported with the achieved GFLOP/s and the machine's float32 matmul peak
measured in the same process.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from lstmcast.config import TrainingConfig, load_config
from lstmcast.data.reading import load_series_for
from lstmcast.data.windows import prepare
from lstmcast.models.lstm import build_model
from lstmcast.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


def lean_epoch(model, optimizer, x, y, xv, yv, batch_size, generator):
    """The leanest loop we could write: prebuilt tensors, randperm batches, clip, step; validation at the end."""
    model.train()
    loss_fn = nn.MSELoss()
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        prediction = model(x[index])[0]
        loss = loss_fn(prediction, y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    with torch.no_grad():
        total = sum(float(loss_fn(model(xv[i : i + 4 * batch_size])[0], yv[i : i + 4 * batch_size])) *
                    len(xv[i : i + 4 * batch_size]) for i in range(0, len(xv), 4 * batch_size))
    return total / len(xv)


def matmul_peak(threads: int, size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def lstm_flops(model, samples: int, steps: int) -> float:
    """Multiply-adds of the LSTM layers x 2 (FLOPs), x 3 for forward + backward."""
    lstm = model.lstm
    units = lstm.proj_size or lstm.hidden_size
    per_step = sum(4 * lstm.hidden_size * ((lstm.input_size if layer == 0 else units) + units)
                   for layer in range(lstm.num_layers))
    return 3 * 2 * per_step * samples * steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(ROOT / "configs" / "msft_many_to_one.yaml", ["model.dropout=0.0"])
    prepared = prepare(load_series_for(config.data), config.data)
    x, y = prepared.windows(prepared.origins("train"))
    xv, yv = prepared.windows(prepared.origins("validation"))
    windows = prepared.split_windows(("train", "validation"))
    torch.manual_seed(0)
    initial = build_model(config.model, layout=1, horizon=prepared.horizon)
    settings = TrainingConfig(epochs=1, batch_size=256, learning_rate=1e-3, grad_clip=1.0, patience=0, seed=0)

    def ours():
        model = copy.deepcopy(initial)
        train(model, windows["train"], windows["validation"], settings)

    def lean():
        model = copy.deepcopy(initial)
        lean_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, xv, yv, 256,
                   torch.Generator().manual_seed(0))

    for fn in (ours, lean):  # warm-up
        fn()
    times = {"lstmcast train()": [], "plain PyTorch loop": []}
    for _ in range(args.repeats):
        for name, fn in (("lstmcast train()", ours), ("plain PyTorch loop", lean)):
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    peak = matmul_peak(args.threads)
    flops = lstm_flops(initial, len(x), x.shape[1])
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; "
          f"{len(x)} training + {len(xv)} validation windows, batch 256; median of {args.repeats}, interleaved")
    print(f"float32 matmul peak (2048^3 mm): {peak:.1f} GFLOP/s")
    reference = statistics.median(times["plain PyTorch loop"])
    print(f"{'loop':<20} {'median s':>9} {'min s':>7} {'ratio':>6} {'GFLOP/s':>8} {'% of peak':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median:9.3f} {min(values):7.3f} {median / reference:6.3f} {flops / median / 1e9:8.1f} "
              f"{100 * flops / median / 1e9 / peak:9.1f}")


if __name__ == "__main__":
    main()
