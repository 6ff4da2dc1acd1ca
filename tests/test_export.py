"""lstmcast export --onnx: the graph's forecast, raw head numbers and every layer's (h, c) against the model in torch
(onnxruntime, to 1e-5), any batch size, a one-row graph chained with the state carried outside, and the output rules."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch
from typer.testing import CliRunner

from lstmcast.cli import app
from lstmcast.runs.load import open_run, run_data

from conftest import DATA, write_config

TOLERANCE = 1e-5


def session(folder) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


def zeros(model, batch: int) -> tuple[np.ndarray, np.ndarray]:
    lstm = model.encoder
    return (np.zeros((lstm.num_layers, batch, lstm.proj_size or lstm.hidden_size), np.float32),
            np.zeros((lstm.num_layers, batch, lstm.hidden_size), np.float32))


@pytest.fixture(scope="module")
def covariate_run(tmp_path_factory):
    """seq2seq over a panel with a calendar covariate and a static series embedding, projected LSTM."""
    base = tmp_path_factory.mktemp("covariates")
    config = write_config(base / "c.yaml", data={
        "path": str(DATA / "stocks_daily_long_ohlcv.csv"), "date_column": "Date", "series_column": "Ticker",
        "series": ["AAPL", "MSFT"], "target": "Adj Close", "transform": "log_return", "lookback": 10, "horizon": 3,
        "future_covariates": ["day_of_week"], "static_covariates": ["series"]},
        model={"kind": "seq2seq", "hidden_size": 6, "num_layers": 2, "proj_size": 3},
        training={"epochs": 1, "batch_size": 256, "threads": 1})
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(base / "run")])
    assert result.exit_code == 0, result.output
    return base / "run"


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq", "covariates"])
def test_the_graph_matches_the_model_with_the_state_explicit(kind, trained_runs, covariate_run, tmp_path):
    run_dir = covariate_run if kind == "covariates" else trained_runs[kind]
    result = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "x"), "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert max(described["check"]["max_abs_difference"].values()) < TOLERANCE
    model = open_run(run_dir).model
    ours = session(tmp_path / "x")
    assert [i.name for i in ours.get_inputs()] == ["window", "h0", "c0"]
    columns = described["inputs"]["window"][2]
    for batch in (1, 37):  # any batch size; a state that is not zero
        window = torch.randn(batch, described["lookback"], columns)
        if kind == "covariates":
            window[..., -1] = torch.randint(0, 2, (batch, described["lookback"])).float()  # the series code
        h0, c0 = (torch.randn(*shape.shape) * 0.5 for shape in map(torch.from_numpy, zeros(model, batch)))
        got = dict(zip([o.name for o in ours.get_outputs()],
                       ours.run(None, {"window": window.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})))
        with torch.no_grad():
            _, (h, c) = model.encode(window, (h0, c0))
            raw, last = model.emit(window, (h0, c0))
        expected = {"raw": raw, "forecast": model.distribution.point(raw), "h_n": h, "c_n": c}
        if kind != "many_to_one":
            expected |= {"decoder_h_n": last[0], "decoder_c_n": last[1]}
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert np.abs(got[name] - value.numpy()).max() < TOLERANCE, name


def test_a_one_row_graph_chained_over_a_window_equals_the_whole_window(trained_runs, tmp_path):
    run_dir = trained_runs["many_to_one"]
    assert CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "w")]).exit_code == 0
    result = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "s"), "--steps", "1"])
    assert result.exit_code == 0, result.output
    run = open_run(run_dir)
    _, prepared = run_data(run)
    window = prepared.windows(prepared.origins("test")[:5])[0].contiguous().numpy()
    h, c = zeros(run.model, len(window))
    step = session(tmp_path / "s")
    for t in range(window.shape[1]):  # streaming: one row at a time, the state carried by the caller
        forecast, _, h, c = step.run(None, {"window": window[:, t : t + 1], "h0": h, "c0": c})
    whole = session(tmp_path / "w").run(None, {"window": window, **dict(zip(("h0", "c0"), zeros(run.model, 5)))})
    for mine, theirs in zip((forecast, h, c), (whole[0], whole[2], whole[3])):
        assert np.abs(mine - theirs).max() < TOLERANCE


def test_exports_are_replaced_only_with_force_and_only_when_they_are_exports(trained_runs, tmp_path):
    run_dir = trained_runs["many_to_one"]
    assert CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "x")]).exit_code == 0
    again = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "x")])
    assert again.exit_code == 6 and "--force" in again.output
    assert CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "x"), "--force"]).exit_code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(mine), "--force"])
    assert refused.exit_code == 6 and (mine / "notes.txt").read_text() == "keep me"


def test_a_shorter_graph_is_checked_too_and_longer_is_refused(trained_runs, tmp_path):
    run_dir = trained_runs["seq2seq"]
    result = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "s"), "--steps", "3", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["check"]["windows"] > 0 and max(described["check"]["max_abs_difference"].values()) < TOLERANCE
    assert described["inputs"]["window"][1] == 3
    longer = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(tmp_path / "l"), "--steps", "13"])
    assert longer.exit_code == 2 and "at most the lookback" in longer.output
