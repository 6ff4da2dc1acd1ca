"""Start-up: `lstmcast --help` and each command's --help, and one `lstmcast predict` (with the shipped config's XNAS
calendar, and without one), against bare imports.

    python benchmarks/bench_startup.py [--repeats 7]

Runs are interleaved and medians reported. `predict` is compared with `python -c "import torch, pandas"`, the least
any forecast needs; the help commands must stay under 0.2 s (they import neither torch nor pandas).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        run, plain = Path(folder) / "run", Path(folder) / "plain"
        for out, extra in ((run, []), (plain, ["--set", "data.calendar=null"])):  # XNAS sessions, or Mon-Fri
            subprocess.run([python, "-m", "lstmcast", "train", str(ROOT / "configs" / "msft_many_to_one.yaml"),
                            "--out", str(out), "--set", "training.epochs=1", *extra], check=True, capture_output=True)
        commands = {
            "lstmcast --help": [python, "-m", "lstmcast", "--help"],
            **{f"lstmcast {c} --help": [python, "-m", "lstmcast", c, "--help"]
               for c in ("train", "predict", "dump-states", "backtest")},
            "python -c 'import torch, pandas'": [python, "-c", "import torch, pandas"],
            "lstmcast predict RUN": [python, "-m", "lstmcast", "predict", str(run)],
            "lstmcast predict RUN (no calendar)": [python, "-m", "lstmcast", "predict", str(plain)],
        }
        for command in commands.values():
            timed(command)
        times = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    imports = medians["python -c 'import torch, pandas'"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; "
          f"median of {args.repeats}, interleaved")
    print(f"{'command':<36} {'median s':>9} {'target':>18}")
    for name, value in medians.items():
        target = "< 0.2 s" if "--help" in name else ("<= 1.3x imports" if "predict" in name else "reference")
        print(f"{name:<36} {value:9.3f} {target:>18}")
    print(f"\npredict / imports = {medians['lstmcast predict RUN'] / imports:.2f}x with the XNAS calendar, "
          f"{medians['lstmcast predict RUN (no calendar)'] / imports:.2f}x without (target <= 1.3x)")


if __name__ == "__main__":
    main()
