"""How close N data-parallel ranks come to one process: the largest |weight difference| and the largest relative
difference of the loss curves, for both model kinds, on the CPI series (batches of 50, so the last batch splits
unevenly), through the real launchers. tests/test_distributed.py holds both to 1e-6.

    python benchmarks/ddp_equivalence.py --epochs 4
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from safetensors.torch import load_file

DATA = Path(__file__).resolve().parents[1] / "data" / "us_core_cpi_monthly.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        for kind in ("many_to_one", "seq2seq"):
            config = base / f"{kind}.yaml"
            config.write_text(yaml.safe_dump({
                "data": {"path": str(DATA), "date_column": "observation_date", "target": "CPILFESL", "lookback": 12,
                         "horizon": 4},
                "model": {"kind": kind, "hidden_size": 8} | ({"teacher_forcing": 0.5} if kind == "seq2seq" else {}),
                "training": {"epochs": args.epochs, "batch_size": 50, "patience": 0, "seed": 3, "threads": 1}}))
            one, many = base / f"{kind}-1", base / f"{kind}-{args.nproc}"
            subprocess.run([sys.executable, "-m", "lstmcast", "train", str(config), "--out", str(one)], check=True,
                           capture_output=True)
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                            str(args.nproc), "-m", "lstmcast", "train", str(config), "--out", str(many)], check=True,
                           capture_output=True)
            a, b = load_file(one / "model.safetensors"), load_file(many / "model.safetensors")
            weights = max(float((a[k] - b[k]).abs().max()) for k in a)
            curves = [[row.split(",") for row in (run / "history.csv").read_text().splitlines()[1:]]
                      for run in (one, many)]
            losses = max(abs(float(x[i]) - float(y[i])) / abs(float(x[i])) for x, y in zip(*curves) for i in (1, 2))
            print(f"{kind}: largest |weight difference| {weights:.2g}, largest relative loss difference {losses:.2g} "
                  f"after {args.epochs} epochs, {args.nproc} ranks vs 1 process")


if __name__ == "__main__":
    main()
