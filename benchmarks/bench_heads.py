"""What a probabilistic head costs: a training epoch of each head against the point head's, on the same model, data and
settings; and drawing sample paths for one forecast origin.

    python benchmarks/bench_heads.py [--repeats 5] [--threads N]

Model and data: the MSFT many-to-one config (2-layer LSTM, hidden 64, lookback 64, horizon 5, batch 256, Adam,
gradient clipping 1.0) on the shipped MSFT daily log returns; an epoch is lstmcast's train() for one epoch (training
pass and validation loss). The heads run interleaved, from the same initial LSTM weights; reported: the median epoch,
its ratio to the point head's, and the median of the per-round ratios ("paired": each head against the point epoch
of the same round, which cancels most of a shared machine's drifting load). Sampling:
1,000 paths of 5 steps from the last window, many-to-one (marginals per step) and seq2seq (the decoder fed each draw),
including the conversion to prices, median of 20 calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from lstmcast.config import TrainingConfig, load_config
from lstmcast.data.reading import load_series_for
from lstmcast.data.windows import prepare
from lstmcast.forecasting.sampling import sample_paths
from lstmcast.models.lstm import build_model
from lstmcast.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
HEADS = {"point": "point", "normal": "normal", "student_t": "student_t",
         "quantile": {"kind": "quantile", "levels": [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]}}


def epoch_times(repeats: int) -> dict[str, list[float]]:
    config = load_config(ROOT / "configs" / "msft_many_to_one.yaml", ["model.dropout=0.0"])
    prepared = prepare(load_series_for(config.data), config.data)
    windows = prepared.split_windows(("train", "validation"))
    train_windows, validation = windows["train"], windows["validation"]
    settings = TrainingConfig(epochs=1, batch_size=256, learning_rate=1e-3, grad_clip=1.0, patience=0, seed=0)
    models = {}
    for name, head in HEADS.items():
        torch.manual_seed(0)  # the same LSTM weights for every head
        models[name] = build_model(config.model.model_copy(update={"head": _head(head)}), layout=1,
                                   horizon=prepared.horizon)
    initial = {name: {k: v.clone() for k, v in model.state_dict().items()} for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in HEADS}
    for repeat in range(repeats + 1):  # the first round warms up
        for name, model in models.items():
            model.load_state_dict(initial[name])
            started = time.perf_counter()
            train(model, train_windows, validation, settings)
            if repeat:
                times[name].append(time.perf_counter() - started)
    return times


def _head(head):
    from lstmcast.config.schema import HeadConfig

    return HeadConfig.model_validate(head)


def sampling_times(kind: str, calls: int = 20) -> list[float]:
    name = "msft_many_to_one.yaml" if kind == "many_to_one" else "msft_seq2seq.yaml"
    config = load_config(ROOT / "configs" / name, [])
    prepared = prepare(load_series_for(config.data), config.data)
    torch.manual_seed(0)
    model = build_model(config.model.model_copy(update={"head": _head("student_t")}),
                        layout=len(prepared.columns), horizon=prepared.horizon).eval()
    x = prepared.tensor()[-prepared.lookback:][None]
    origin = np.array([len(prepared.dates) - 1])
    times = []
    for call in range(calls + 1):
        started = time.perf_counter()
        paths = sample_paths(model, prepared, x, origin, samples=1000, steps=5, seed=call)
        if call:
            times.append(time.perf_counter() - started)
    assert paths.shape == (1, 5, 1000) and np.isfinite(paths).all()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    times = epoch_times(args.repeats)
    reference = statistics.median(times["point"])
    print(f"training epoch (MSFT many-to-one, {args.repeats} interleaved rounds)")
    print(f"{'head':<10} {'median s':>9} {'min s':>7} {'vs point':>9} {'paired':>7}")
    for name, values in times.items():
        paired = statistics.median(v / p for v, p in zip(values, times["point"]))  # same round: same machine load
        print(f"{name:<10} {statistics.median(values):9.3f} {min(values):7.3f} "
              f"{statistics.median(values) / reference:9.3f} {paired:7.3f}")
    print("1,000 sample paths x 5 steps for one origin, student_t head, to prices (median of 20 calls)")
    for kind in ("many_to_one", "seq2seq"):
        values = sampling_times(kind)
        print(f"{kind:<12} {statistics.median(values) * 1000:8.1f} ms (max {max(values) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
