"""Peak memory of a stream dump as the series grows 10x and 100x (issue 17), against a reference in the same run.

    python benchmarks/bench_stream_memory.py [--rows 5000 50000 500000] [--kinds many_to_one seq2seq]

Synthetic daily prices (a random walk), a model shaped like the MSFT configs (2 layers x 64 units, lookback 64,
horizon 5, 1 epoch on the smallest series). For each length, `dump-states --mode stream --format npy` runs in its own
process and its peak resident memory is read from its rusage; the reference is `predict` on the same CSV, which reads
and prepares the same series and then forecasts once. Their difference is what the dump itself holds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def run(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one lstmcast process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "lstmcast", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(process.stderr.read().decode())
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def series(path: Path, rows: int) -> None:
    rng = np.random.default_rng(rows)
    dates = pd.bdate_range("1800-01-01", periods=rows)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": prices.round(4)}).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 50_000, 500_000])
    parser.add_argument("--kinds", nargs="+", default=["many_to_one", "seq2seq"])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    print(f"{'kind':<12} {'rows':>8} {'output MiB':>11} {'dump peak':>10} {'predict peak':>13} {'dump - predict':>15}"
          f" {'dump s':>7}")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        for rows in args.rows:
            series(base / f"{rows}.csv", rows)
        for kind in args.kinds:
            config = {"data": {"path": str(base / f"{min(args.rows)}.csv"), "target": "Close", "lookback": 64,
                               "horizon": 5},
                      "model": {"kind": kind, "hidden_size": 64, "num_layers": 2},
                      "training": {"epochs": 1, "batch_size": 256}}
            (base / "c.yaml").write_text(yaml.safe_dump(config))
            subprocess.run([sys.executable, "-m", "lstmcast", "train", str(base / "c.yaml"), "--out",
                            str(base / kind)], check=True, capture_output=True)
            for rows in args.rows:
                out = base / f"{kind}-{rows}"
                dump_peak, seconds = run(["dump-states", str(base / kind), "--mode", "stream", "--data",
                                          str(base / f"{rows}.csv"), "--format", "npy", "--out", str(out)])
                predict_peak, _ = run(["predict", str(base / kind), "--data", str(base / f"{rows}.csv")])
                size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
                print(f"{kind:<12} {rows:>8} {size:>11,.0f} {dump_peak:>10,.0f} {predict_peak:>13,.0f} "
                      f"{dump_peak - predict_peak:>15,.0f} {seconds:>7.1f}")
                for item in out.iterdir():
                    item.unlink()
                out.rmdir()


if __name__ == "__main__":
    main()
