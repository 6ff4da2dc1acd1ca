"""A 20-trial sweep of the CPI config, killed with SIGKILL part-way and resumed, then the best trial's config and the
default config backtested side by side on the same origins (the test split, untouched by the sweep).

    python benchmarks/bench_sweep.py --trials 20 --kill-at 150

--kill-at N kills the sweep at its N-th completed epoch (LSTMCAST_FAULT=epoch-saved:kill:N); the second command
resumes it. The script checks that no finished trial ran twice (each trial's meta.json is written once, and the
finished trials of the first process keep theirs) and prints both backtests' overall metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = "configs/cpi_monthly.yaml"


def lstmcast(*args: str, fault: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTMCAST_FAULT"} | ({"LSTMCAST_FAULT": fault} if fault else {})
    return subprocess.run([sys.executable, "-m", "lstmcast", *args], capture_output=True, text=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kill-at", type=int, default=150)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as folder:
        sweep = Path(folder) / "cpi"
        started = time.perf_counter()
        first = lstmcast("tune", CONFIG, "--trials", str(args.trials), "--out", str(sweep),
                         fault=f"epoch-saved:kill:{args.kill_at}")
        done_before = {p.parent.name: p.read_text() for p in sweep.glob("trials/*/meta.json")}
        print(f"first process: exit {first.returncode} after {time.perf_counter() - started:.0f} s, "
              f"{len(done_before)} trial runs finished")
        second = lstmcast("tune", CONFIG, "--trials", str(args.trials), "--out", str(sweep), "--json")
        assert second.returncode == 0, second.stderr
        report = json.loads(second.stdout)
        states = [row["state"] for row in report["trials"]]
        print(f"resumed: {report['ran_here']} trials run by the second process; states "
              f"{ {s: states.count(s) for s in sorted(set(states))} }; total {time.perf_counter() - started:.0f} s")
        unchanged = all((sweep / "trials" / name / "meta.json").read_text() == text
                        for name, text in done_before.items())
        run_dirs = [row["run_dir"] for row in report["trials"] if row["state"] in ("COMPLETE", "PRUNED")]
        print(f"finished trials of the first process untouched: {unchanged}; distinct run directories: "
              f"{len(set(run_dirs))} of {len(run_dirs)}")
        print("stderr of the resume:", *[line for line in second.stderr.splitlines() if "retried" in line])
        best = report["best"]
        print(f"best: trial {best['trial']}, validation loss {best['value']:.5g}, "
              f"{ {k: v for k, v in best.items() if '.' in k} }")
        backtest = lstmcast("backtest", CONFIG, str(sweep / "best.yaml"), "--name", "default", "--name", "best",
                            "--json")
        assert backtest.returncode == 0, backtest.stderr
        overall = json.loads(backtest.stdout)["overall"]
        for name in ("default", "best", "random_walk", "drift"):
            metrics = overall[name]
            print(f"backtest {name:12s} MAE {metrics['mae']:.4f} RMSE {metrics['rmse']:.4f} MASE {metrics['mase']:.4f}")


if __name__ == "__main__":
    main()
