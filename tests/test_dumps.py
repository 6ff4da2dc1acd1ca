"""Every dump format carries every array, LSTMVis gets what its loader expects, and a stream dump's memory does not
grow with the series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from lstmcast.cli import app
from lstmcast.outputs.dumpread import read as load_dump

from conftest import DATA, write_config

MODES = {"windows": ["--from", "2016-01-01", "--to", "2016-06-01"], "stream": ["--mode", "stream", "--from",
                                                                            "2016-01-01", "--to", "2016-06-01"]}


def dump_all(runner, run: Path, folder: Path, mode: str) -> dict[str, Path]:
    paths = {"npz": folder / f"{mode}.npz", "npy": folder / f"{mode}_npy", "parquet": folder / f"{mode}.parquet",
             "lstmvis": folder / f"{mode}_vis"}
    for fmt, path in paths.items():
        result = runner.invoke(app, ["dump-states", str(run), "--gates", "--format", fmt, "--out", str(path),
                                     *MODES[mode]])
        assert result.exit_code == 0, result.output
    return paths


@pytest.mark.parametrize("mode", ["windows", "stream"])
def test_every_format_carries_every_array(runner, trained_runs, tmp_path, mode):
    paths = dump_all(runner, trained_runs["seq2seq"], tmp_path, mode)
    reference = load_dump(paths["npz"])
    arrays = reference.arrays
    assert {"decoder_h", "decoder_c", "decoder_gate_f", "decoder_input", "head_input", "gate_o"} <= set(arrays)
    npy = load_dump(paths["npy"])
    assert set(npy.arrays) == set(arrays) and npy.meta["self_check"] == reference.meta["self_check"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(npy[name], value, err_msg=name)
    table = load_dump(paths["parquet"]).table
    steps = table[table.phase != "horizon"]
    ahead = table[table.phase == "horizon"]
    np.testing.assert_array_equal(steps["h_l1_u5"], arrays["h"][..., 1, 5].reshape(-1))
    np.testing.assert_array_equal(steps["gate_g_l0_u2"], arrays["gate_g"][..., 0, 2].reshape(-1))
    origins = arrays["prediction"].reshape(-1, arrays["prediction"].shape[-1])  # [origins, K]
    np.testing.assert_array_equal(ahead["prediction"], origins.reshape(-1))
    np.testing.assert_array_equal(ahead["decoder_input"], arrays["decoder_input"].reshape(-1))
    np.testing.assert_array_equal(ahead["c_l0_u3"], arrays["decoder_c"][..., 0, 3].reshape(-1))
    np.testing.assert_array_equal(ahead["gate_f_l1_u1"], arrays["decoder_gate_f"][..., 1, 1].reshape(-1))
    np.testing.assert_array_equal(ahead["head_input_u4"], arrays["head_input"][..., 4].reshape(-1))
    origin_dates = arrays["step_date"][0] if mode == "stream" else arrays["origin_date"]
    assert (ahead["origin_date"].to_numpy() == np.repeat(origin_dates, origins.shape[1])).all()
    with h5py.File(paths["lstmvis"] / "states.h5") as states:
        positions = int(np.prod(arrays["h"].shape[:2]))
        np.testing.assert_array_equal(states["output2"][()], arrays["h"][..., 1, :].reshape(positions, -1))
        np.testing.assert_array_equal(states["gate_f1"][()], arrays["gate_f"][..., 0, :].reshape(positions, -1))
        if mode == "stream":  # the decoder's state for each forecast step, aligned with the origin's position
            np.testing.assert_array_equal(states["decoder_states2_k3"][()], arrays["decoder_c"][0, :, 2, 1])
        else:
            assert "decoder_states1_k1" not in states
    dates = (paths["lstmvis"] / "dates.dict").read_text().split("\n")[:2]
    assert dates[0] == f"{str(arrays['step_date'].reshape(-1)[0])[:10]} 1"
    with h5py.File(paths["lstmvis"] / "annotations.h5") as tracks:
        price = arrays["inputs_raw"][..., 0].reshape(-1)
        np.testing.assert_allclose(tracks["price"][()], price, rtol=1e-6)
        if mode == "stream":
            forecast, actual = arrays["prediction"][0, :, 0], arrays["target"][0, :, 0]
            np.testing.assert_allclose(tracks["forecast"][()], forecast, rtol=1e-6)
            np.testing.assert_allclose(tracks["error"][()], np.where(np.isnan(actual), 0, forecast - actual),
                                       rtol=1e-5, atol=1e-6)
            assert tracks["realised_volatility_21"][1] == 0  # one return: unknown, shown as 0
            for t in range(2, len(price)):  # the sample std of the last <= 21 log returns, by hand
                returns = np.diff(np.log(price[max(0, t - 21) : t + 1]))
                np.testing.assert_allclose(tracks["realised_volatility_21"][t], np.std(returns, ddof=1), rtol=1e-5)
        else:
            assert set(tracks) == {"price"}


def test_the_lstmvis_export_is_what_the_lstmvis_loader_expects(runner, trained_runs, tmp_path):
    """Checks the rules of LSTMVis's data handler: registered .h5 and .dict files, every state type's path in its
    file with [positions, units], the word sequence and the annotation track as long as the positions, dicts of
    `value id` lines, and tanh turned off where values are bounded already."""
    folder = dump_all(runner, trained_runs["many_to_one"], tmp_path, "stream")["lstmvis"]
    config = yaml.safe_load((folder / "lstm.yml").read_text())
    files = {key: folder / name for key, name in config["files"].items()}
    assert all(path.is_file() for path in files.values())
    dicts = {key: dict(line.split() for line in path.read_text().splitlines()) for key, path in files.items()
             if path.suffix == ".dict"}
    handles = {key: h5py.File(path, "r") for key, path in files.items() if path.suffix in (".h5", ".hdf5")}
    try:
        words = config["word_sequence"]
        positions = handles[words["file"]][words["path"]].shape[0]
        ids = handles[words["file"]][words["path"]][()]
        assert set(ids.tolist()) <= {int(v) for v in dicts[words["dict_file"]].values()}
        for entry in config["states"]["types"]:
            data = handles[entry.get("file", config["states"]["file"])][entry["path"]]
            assert data.ndim == 2 and data.shape[0] == positions, entry
            if entry["type"] == "output" or entry["type"].startswith("gate_"):
                assert entry["transform"] == "none"
            if entry["type"] == "state":
                assert "transform" not in entry  # c is unbounded: LSTMVis's tanh is right for it
        for name, track in config["meta"].items():
            values = handles[track["file"]][track["path"]][()]
            assert values.shape == (positions,)
            if track["vis"]["type"] == "discrete":
                assert track["dict"] in dicts and track["vis"]["range"] == "dict"
            else:  # scalar: colours map [min, max]; JSON (LSTMVis's transport) has no NaN
                low, high = track["vis"]["range"]
                assert track["vis"]["type"] == "scalar" and np.isfinite(values).all()
                assert low == pytest.approx(values.min()) and high == pytest.approx(values.max())
        assert {"price", "forecast", "error", "realised_volatility_21"} <= set(config["meta"])
    finally:
        for handle in handles.values():
            handle.close()
    edges = load_dump(folder).meta["lstmvis_words"]["edges"]
    assert edges == sorted(edges) and len(edges) == 6  # quantile bins of the series, whatever the scaler


def peak_rss_mib(args: list[str]) -> float:
    """Peak resident memory of one lstmcast process (its own rusage, not the test's)."""
    process = subprocess.Popen([sys.executable, "-m", "lstmcast", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read().decode()
    return usage.ru_maxrss / 1024


def test_stream_dump_memory_does_not_grow_with_the_series(runner, tmp_path):
    """Issue 17: the whole stream was one chunk, so memory grew with the series."""
    rng = np.random.default_rng(0)
    for rows in (2_000, 40_000):
        dates = pd.bdate_range("1850-01-01", periods=rows)
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
        pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": prices.round(4)}).to_csv(
            tmp_path / f"{rows}.csv", index=False)
    config = write_config(tmp_path / "c.yaml", data={"path": str(tmp_path / "2000.csv"), "lookback": 16, "horizon": 3},
                          model={"kind": "seq2seq", "hidden_size": 32, "num_layers": 2}, training={"epochs": 1})
    assert runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    peaks = {rows: peak_rss_mib(["dump-states", str(tmp_path / "run"), "--mode", "stream", "--gates", "--data",
                                 str(tmp_path / f"{rows}.csv"), "--format", "npy", "--chunk-size", "500", "--out",
                                 str(tmp_path / f"d{rows}")]) for rows in (2_000, 40_000)}
    written = sum(f.stat().st_size for f in (tmp_path / "d40000").iterdir()) / 2**20
    assert written > 150  # 20 times the rows: an output of about 200 MiB, all through bounded chunks
    assert peaks[40_000] - peaks[2_000] < 80, (peaks, written)


def test_the_volatility_track_rolls_over_chunks_and_restarts_with_each_series(tmp_path):
    from lstmcast.outputs.lstmvis import Scalars

    rng = np.random.default_rng(0)
    prices = {0: 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 90))), 1: 50 * np.exp(np.cumsum(rng.normal(0, 0.03, 40)))}
    total = sum(len(p) for p in prices.values())
    with h5py.File(tmp_path / "a.h5", "w") as handle:
        scalars, position = Scalars(handle, total, stream=True), 0
        for code, series in prices.items():
            for start in range(0, len(series), 7):  # chunks of 7 steps, as the stream writer sends them
                part = series[start : start + 7]
                chunk = {"inputs_raw": part[None, :, None], "prediction": part[None, :, None],
                         "target": part[None, :, None], "series": np.full((1, len(part)), code)}
                scalars.write(chunk, slice(position, position + len(part)))
                position += len(part)
        written = handle["realised_volatility_21"][()]
    expected = []
    for series in prices.values():
        for t in range(len(series)):
            returns = np.diff(np.log(series[max(0, t - 21) : t + 1]))
            expected.append(np.std(returns, ddof=1) if len(returns) >= 2 else 0.0)
    np.testing.assert_allclose(written, expected, rtol=1e-5)


def test_dumps_and_reports_say_what_predict_says_of_the_data_and_name_their_files_honestly(runner, trained_runs,
                                                                                         tmp_path):
    """Rows sorted and gaps the windows read as one step are told (predict refuses a gap in its last window; a dump
    of many windows records them, and says so); a dump is never written under another format's name."""
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    frame = frame[~frame.observation_date.isin(["2015-03-01", "2015-04-01", "2015-05-01"])]  # a 4-month jump
    shuffled = tmp_path / "shuffled.csv"
    frame.sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    run = trained_runs["many_to_one"]
    for command in (["dump-states", str(run), "--data", str(shuffled), "--from", "2014-01-01",
                     "--out", str(tmp_path / "d.npz")],
                    ["dump-states", str(run), "--data", str(shuffled), "--stream", "--from", "2018-01-01",
                     "--out", str(tmp_path / "s.npz")],
                    ["inspect", str(run), "--data", str(shuffled), "--from", "2014-01-01", "--attribution-windows",
                     "2", "--out", str(tmp_path / "report")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        assert "not in order; sorted" in result.stderr and "1 gap(s)" in result.stderr, (command, result.stderr)
        assert "2015-02-01 -> 2015-06-01 (120 days)" in result.stderr
    notes = " ".join(json.loads((tmp_path / "report" / "summary.json").read_text())["notes"])
    assert "not in order; sorted" in notes and "1 gap(s)" in notes  # kept with the report, and shown in it
    assert "1 gap(s)" in (tmp_path / "report" / "report.html").read_text()
    assert np.load(tmp_path / "s.npz")["h"].shape[:2] == (1, 11)  # one stream (2018-01 .. 2018-11), by --stream
    result = runner.invoke(app, ["dump-states", str(run), "--from", "2017-01-01", "--out", str(tmp_path / "d.npz"),
                                 "--force"])
    assert result.exit_code == 0 and "gap" not in result.stderr  # the shipped CSV has none
    for name in ("x.npy", "x.h5", "x.tar.gz", "x.safetensors"):
        result = runner.invoke(app, ["dump-states", str(run), "--out", str(tmp_path / name)])
        assert result.exit_code == 2 and "name it .npz or .parquet" in result.output
        assert not (tmp_path / name).exists()
    result = runner.invoke(app, ["inspect", str(tmp_path / "shuffled.csv")])
    assert result.exit_code == 4 and "a file, not a run directory" in result.output
