"""`lstmcast inspect` wall time on a run and period, beside `dump-states --gates` of the same windows (a reference
measured in the same run: the recording inspect starts from), each a fresh process, interleaved.

    python benchmarks/bench_inspect.py RUN --from 2015-11-13 [--repeats 3]

The issue's target: the MSFT run's last two years in under 30 s on 2 cores.
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


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "lstmcast"]
    times: dict[str, list[float]] = {"inspect": [], "dump-states --gates": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            times["inspect"].append(timed(cli + ["inspect", args.run, "--from", args.start, "--out",
                                                 str(Path(folder) / "report"), "--force"]))
            times["dump-states --gates"].append(timed(cli + ["dump-states", args.run, "--gates", "--from", args.start,
                                                             "--out", str(Path(folder) / "s.npz"), "--force"]))
        size = (Path(folder) / "report" / "report.html").stat().st_size
    print(f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; {args.run} from {args.start}; "
          f"{args.repeats} runs each, interleaved")
    for name, values in times.items():
        print(f"{name:<22} median {statistics.median(values):6.2f} s  runs {', '.join(f'{v:.2f}' for v in values)}")
    ratio = statistics.median(times["inspect"]) / statistics.median(times["dump-states --gates"])
    print(f"inspect / dump-states --gates: {ratio:.2f}x; report.html {size / 2**20:.1f} MiB; target: inspect < 30 s")


if __name__ == "__main__":
    main()
