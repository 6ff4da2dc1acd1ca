"""End to end against Darts: `lstmcast train` (MSFT config, 3 epochs) vs the equivalent Darts BlockRNNModel script.

    python benchmarks/bench_peers.py [--repeats 3]

Both run as fresh processes, from process start to a saved model: import, load the CSV, log returns, scale on the
training rows, fit 3 epochs (2-layer LSTM, hidden 64, lookback 64, horizon 5, batch 256, Adam 1e-3), save.
Interleaved, medians. Darts is an optional benchmark dependency (pip install darts pytorch-lightning); without it,
the peer is skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DARTS = r"""
import sys
import numpy as np, pandas as pd
from darts import TimeSeries
from darts.dataprocessing.transformers import Scaler
from darts.models import BlockRNNModel
frame = pd.read_csv(sys.argv[1], parse_dates=["Date"])
returns = np.diff(np.log(frame["Close"].to_numpy())).astype("float32")
series = TimeSeries.from_values(returns)
n = len(returns)
train = series[: int(n * 0.7)]
validation = series[int(n * 0.7) - 64 : int(n * 0.85)]
scaler = Scaler()
train, validation = scaler.fit_transform(train), scaler.transform(validation)
model = BlockRNNModel(input_chunk_length=64, output_chunk_length=5, model="LSTM", hidden_dim=64, n_rnn_layers=2,
                      dropout=0.1, batch_size=256, n_epochs=3, optimizer_kwargs={"lr": 1e-3}, random_state=0,
                      pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False, "logger": False,
                                         "enable_model_summary": False, "enable_checkpointing": False})
model.fit(train, val_series=validation, verbose=False)
model.save(sys.argv[2])
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    csv = ROOT / "data" / "msft_daily_ohlcv.csv"
    have_darts = importlib.util.find_spec("darts") is not None
    with tempfile.TemporaryDirectory() as folder:
        commands = {"lstmcast train (3 epochs)": lambda i: [
            sys.executable, "-m", "lstmcast", "train", str(ROOT / "configs" / "msft_many_to_one.yaml"), "--out",
            f"{folder}/run{i}", "--set", "training.epochs=3", "--set", "training.patience=0", "--json"]}
        if have_darts:
            script = Path(folder) / "darts_train.py"
            script.write_text(DARTS)
            commands["Darts BlockRNNModel (3 epochs)"] = lambda i: [sys.executable, str(script), str(csv),
                                                                     f"{folder}/darts{i}.pt"]
        for command in commands.values():  # warm the file cache
            timed(command("warm"))
        times = {name: [] for name in commands}
        for i in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command(i)))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; "
          f"median of {args.repeats}, interleaved, process start to saved model")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:<34} {value:7.2f} s")
    if have_darts:
        ratio = medians["lstmcast train (3 epochs)"] / medians["Darts BlockRNNModel (3 epochs)"]
        print(f"lstmcast / Darts = {ratio:.2f}x (target <= 0.6x)")
    else:
        print("Darts is not installed: peer skipped (pip install darts pytorch-lightning to compare)")


if __name__ == "__main__":
    main()
