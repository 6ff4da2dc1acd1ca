"""Panels at scale: load, prepare and window a synthetic long file of N series x 2,500 daily rows (2 value columns),
and a training epoch over a panel against the leanest plain-PyTorch loop on the same windows.

    python benchmarks/bench_panel.py scale [--series 100 1000 5000] [--rows 2500]
    python benchmarks/bench_panel.py epoch [--series 40] [--repeats 5]

scale: each size runs in a fresh process (peak RSS is per process) on a CSV written beforehand (not timed): Ticker,
Date, Close, Volume, series starting on staggered dates. Timed: `load_panel` (read, split by series, every series
checked), `prepare_panel` (cut-offs, per-series transform and scaler) and `split_windows` (one tensor, window ends).

epoch: lstmcast's `train()` for one epoch over the panel's WindowSet against a plain loop that gathers the same
windows from prebuilt tensors in random batches (same model, initial weights, batch size, Adam, clipping, MSE, and the
validation pass both need), interleaved; the paired ratio is the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from lstmcast.config import build_config
from lstmcast.data.panel import load_panel
from lstmcast.data.panelprep import prepare_panel
imported = time.perf_counter()
data = build_config({"data": {"path": sys.argv[1], "target": "Close", "features": ["Volume"], "series_column":
                              "Ticker", "series": "all", "feature_transform": "log", "lookback": 64, "horizon": 5},
                     "model": {"kind": "many_to_one"}}, source="bench").data
panel = load_panel(data)
loaded = time.perf_counter()
prepared, _ = prepare_panel(panel, data)
prepared_at = time.perf_counter()
windows = prepared.split_windows(("train", "validation", "test"))
windowed = time.perf_counter()
rows = sum(len(series.dates) for series in panel.members.values())
print(json.dumps({"series": len(panel.members), "rows": rows, "windows": sum(len(w) for w in windows.values()),
                  "load_s": loaded - imported, "prepare_s": prepared_at - loaded, "window_s": windowed - prepared_at,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_panel(path: Path, series: int, rows: int, seed: int = 0) -> None:
    """A long CSV: `series` random-walk prices with volumes, `rows` business days each, starts staggered over 250
    days, written in chunks so that the writer's memory stays small."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2000-01-03", periods=rows + 250).strftime("%Y-%m-%d").to_numpy()
    with path.open("w") as handle:
        handle.write("Ticker,Date,Close,Volume\n")
        for number in range(series):
            start = int(rng.integers(0, 250))
            close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, rows)))
            volume = rng.integers(1_000, 1_000_000, rows)
            frame = pd.DataFrame({"Ticker": f"S{number:05d}", "Date": days[start : start + rows],
                                  "Close": close.round(4), "Volume": volume})
            frame.to_csv(handle, header=False, index=False)


def scale(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.series:
            path = Path(folder) / f"panel_{count}.csv"
            write_panel(path, count, args.rows)
            size = path.stat().st_size
            output = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True,
                                    text=True)
            results.append(json.loads(output.stdout) | {"csv_mib": size / 2**20})
            path.unlink()
    print(f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus")
    print(f"{'series':>7} {'rows':>10} {'CSV MiB':>8} {'windows':>10} {'load s':>7} {'prepare s':>9} {'window s':>8} "
          f"{'total s':>8} {'peak RSS MiB':>12} {'s / M rows':>10} {'MiB / M rows':>12}")
    for r in results:
        total = r["load_s"] + r["prepare_s"] + r["window_s"]
        million = r["rows"] / 1e6
        print(f"{r['series']:>7} {r['rows']:>10} {r['csv_mib']:8.0f} {r['windows']:>10} {r['load_s']:7.1f} "
              f"{r['prepare_s']:9.1f} {r['window_s']:8.2f} {total:8.1f} {r['peak_rss_mib']:12.0f} "
              f"{total / million:10.1f} {r['peak_rss_mib'] / million:12.0f}")


def epoch(args: argparse.Namespace) -> None:
    import torch

    from lstmcast.config import TrainingConfig, build_config
    from lstmcast.data.panel import load_panel
    from lstmcast.data.panelprep import prepare_panel
    from lstmcast.models.lstm import build_model
    from lstmcast.training.loop import train

    from bench_training import lean_epoch  # the same lean loop as the single-series benchmark (benchmarks/ on the path)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "panel.csv"
        write_panel(path, args.series, args.rows)
        config = build_config({"data": {"path": str(path), "target": "Close", "series_column": "Ticker",
                                        "series": "all", "lookback": 32, "horizon": 5},
                               "model": {"kind": "many_to_one", "hidden_size": 32, "num_layers": 2}}, source="bench")
        prepared, _ = prepare_panel(load_panel(config.data), config.data)
    windows = prepared.split_windows(("train", "validation"))

    def materialised(split):  # every window copied out once: the lean loop's tensors
        ends = windows[split].ends
        return windows[split].inputs[ends - 31].contiguous(), windows[split].targets[ends + 1].contiguous()

    (x, y), (xv, yv) = materialised("train"), materialised("validation")
    torch.manual_seed(0)
    initial = build_model(config.model, layout=1, horizon=5)
    settings = TrainingConfig(epochs=1, batch_size=256, learning_rate=1e-3, grad_clip=1.0, patience=0, seed=0)

    def ours():
        train(copy.deepcopy(initial), windows["train"], windows["validation"], settings)

    def lean():
        model = copy.deepcopy(initial)
        lean_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, xv, yv, 256,
                   torch.Generator().manual_seed(0))

    ours(), lean()  # warm-up
    times: dict[str, list[float]] = {"lstmcast train()": [], "plain PyTorch loop": []}
    for _ in range(args.repeats):
        for name, fn in (("lstmcast train()", ours), ("plain PyTorch loop", lean)):
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    paired = statistics.median(a / b for a, b in zip(times["lstmcast train()"], times["plain PyTorch loop"]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}; "
          f"{args.series} series, {len(x)} training + {len(xv)} validation windows (batch 256, hidden 32, 2 layers, "
          f"lookback 32); {args.repeats} interleaved rounds")
    for name, values in times.items():
        print(f"{name:<20} median {statistics.median(values):7.2f} s  min {min(values):7.2f} s")
    print(f"paired ratio (ours / lean), median over rounds: {paired:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["scale", "epoch"])
    parser.add_argument("--series", type=int, nargs="+", default=None)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.part == "scale":
        args.series = args.series or [100, 1000, 5000]
        scale(args)
    else:
        args.series = (args.series or [40])[0]
        epoch(args)


if __name__ == "__main__":
    main()
