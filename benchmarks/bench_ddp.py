"""Epoch time of data-parallel training on N ranks against one process, on the same machine, config and data.

Both arms run the real command (`lstmcast train`, and `lstmcast train --nproc N`) and report the median of their
epochs' times from history.csv (training pass plus validation; start-up excluded). The two arms alternate, `--runs`
times, so that a change in the machine's load hits both. On a CPU machine with C cores, one process uses C threads
and each of N ranks C // N: the same cores, so the ratio is the price of the collectives, not a speed-up.

    python benchmarks/bench_ddp.py configs/stocks_panel.yaml --nproc 2 --epochs 4 --runs 3
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def epoch_seconds(config: str, nproc: int, epochs: int, folder: Path) -> float:
    out = folder / f"run-{nproc}"
    threads = max(1, (os.cpu_count() or 1) // nproc)
    command = [sys.executable, "-m", "lstmcast", "train", config, "--out", str(out), "--force",
               "--set", f"training.epochs={epochs}", "--set", "training.patience=0",
               "--set", f"training.threads={threads}", "--json"] + (["--nproc", str(nproc)] if nproc > 1 else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(out / "history.csv") as rows:
        seconds = [float(row["seconds"]) for row in csv.DictReader(rows)]
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)  # the first epoch warms caches up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.config}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            one = epoch_seconds(args.config, 1, args.epochs, Path(folder))
            many = epoch_seconds(args.config, args.nproc, args.epochs, Path(folder))
            print(f"run {run}: 1 process {one:.3f} s/epoch, {args.nproc} ranks {many:.3f} s/epoch, ratio "
                  f"{many / one:.3f} (load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
