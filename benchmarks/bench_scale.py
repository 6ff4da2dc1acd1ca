"""Scale: time and peak resident memory to load, prepare and window 10^4, 10^5 and 10^6 rows (synthetic prices).

    python benchmarks/bench_scale.py [--sizes 10000 100000 1000000]

Each size runs in a fresh process (peak RSS is per process). Windows are views into one tensor (Tensor.unfold), so
memory grows with the rows, not with lookback x windows; the sweep gathers every window once in shuffled batches of 256, as
training does, to show that the views are usable at that size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
import torch
from lstmcast.config import DataConfig
from lstmcast.data.reading import load_series
from lstmcast.data.windows import prepare
imported = time.perf_counter()
path = Path(sys.argv[1])
data = DataConfig(path=path, target="Close", features=("Volume",), feature_transform="log", lookback=64, horizon=5)
series = load_series(path, date_column="Date", columns=["Close", "Volume"])
loaded = time.perf_counter()
prepared = prepare(series, data)
x, y = prepared.windows(prepared.origins("train"))
prepared_at = time.perf_counter()
total = 0.0
order = torch.randperm(len(x))
for start in range(0, len(x), 256):
    total += float(x[order[start:start + 256]].sum())  # gather a shuffled batch, as training does
swept = time.perf_counter()
print(json.dumps({"rows": len(series.dates), "windows": len(x), "window_view_bytes": x.untyped_storage().nbytes(),
                  "copy_would_be_bytes": x.numel() * 4, "load_s": loaded - imported, "prepare_s": prepared_at - loaded,
                  "sweep_s": swept - prepared_at, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "import_s": imported - started}))
"""


def write_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("1900-01-01", periods=rows)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    volume = rng.integers(1_000, 1_000_000, rows)
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": close.round(4), "Volume": volume}).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.sizes:
            path = Path(folder) / f"{rows}.csv"
            write_csv(path, rows)
            output = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True)
            results.append(json.loads(output.stdout))
    print(f"{'rows':>9} {'windows':>9} {'load s':>7} {'prepare s':>9} {'sweep s':>8} {'peak RSS MiB':>12} "
          f"{'window tensor MiB':>17} {'as copies MiB':>13}")
    for r in results:
        print(f"{r['rows']:>9} {r['windows']:>9} {r['load_s']:7.2f} {r['prepare_s']:9.2f} {r['sweep_s']:8.2f} "
              f"{r['peak_rss_mib']:12.0f} {r['window_view_bytes'] / 2**20:17.1f} {r['copy_would_be_bytes'] / 2**20:13.0f}")
    base = results[0]
    for r in results[1:]:
        grow = r["rows"] / base["rows"]
        extra = (r["peak_rss_mib"] - base["peak_rss_mib"])
        print(f"{base['rows']} -> {r['rows']} rows ({grow:.0f}x): load time x{r['load_s'] / base['load_s']:.1f}, "
              f"sweep time x{r['sweep_s'] / base['sweep_s']:.1f}, peak RSS +{extra:.0f} MiB")


if __name__ == "__main__":
    main()
