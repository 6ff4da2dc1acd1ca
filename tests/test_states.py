"""Recorded states are the model's own: checked against nn.LSTM and against an independent numpy LSTM."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmcast.introspect import check, gates, record
from lstmcast.outputs.dumpread import read as load_dump
from lstmcast.cli import app
from lstmcast.errors import ModelFileError
from lstmcast.config import ManyToOneConfig, Seq2SeqConfig
from lstmcast.models.lstm import build_model


def numpy_lstm(lstm: torch.nn.LSTM, x: np.ndarray, h0=None, c0=None):
    """The LSTM equations written out (float64): h, c, gates per layer and step. x [W, T, F]."""
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    p = {k: v.detach().double().numpy() for k, v in lstm.named_parameters()}
    layers, U = lstm.num_layers, lstm.hidden_size
    W, T, _ = x.shape
    P = lstm.proj_size or U
    H, C = np.zeros((W, T, layers, P)), np.zeros((W, T, layers, U))
    G = {g: np.zeros((W, T, layers, U)) for g in "ifgo"}
    layer_input = x.astype(np.float64)
    for l in range(layers):
        h = np.zeros((W, P)) if h0 is None else h0[l]
        c = np.zeros((W, U)) if c0 is None else c0[l]
        for t in range(T):
            z = layer_input[:, t] @ p[f"weight_ih_l{l}"].T + h @ p[f"weight_hh_l{l}"].T + p[f"bias_ih_l{l}"] + p[f"bias_hh_l{l}"]
            i, f, g, o = sigmoid(z[:, :U]), sigmoid(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), sigmoid(z[:, 3 * U:])
            c = f * c + i * g
            h = o * np.tanh(c)
            if lstm.proj_size:
                h = h @ p[f"weight_hr_l{l}"].T
            H[:, t, l], C[:, t, l] = h, c
            for name, value in zip("ifgo", (i, f, g, o)):
                G[name][:, t, l] = value
        layer_input = H[:, :, l]
    return H, C, G


CASES = [(kind, layers, proj) for kind in ("many_to_one", "seq2seq") for layers in (1, 3) for proj in (0, 3)]


@pytest.mark.parametrize("kind, layers, proj", CASES)
def test_recorded_states_equal_nn_lstm_and_an_independent_reference(kind, layers, proj):
    torch.manual_seed(layers + proj)
    config_class = ManyToOneConfig if kind == "many_to_one" else Seq2SeqConfig
    model = build_model(config_class(kind=kind, hidden_size=7, num_layers=layers, dropout=0.5, proj_size=proj),
                        layout=2, horizon=4).eval()
    x = torch.randn(9, 12, 2)
    recording = record.record(model, x)
    lstm = model.lstm if kind == "many_to_one" else model.encoder
    gates.add_gates(lstm, recording.encoder, x)
    h, c = (t.numpy() for t in (recording.encoder.h, recording.encoder.c))
    assert h.shape == (9, 12, layers, proj or 7) and c.shape == (9, 12, layers, 7)
    # 1. nn.LSTM's own output and (h_n, c_n)
    with torch.no_grad():
        output, (h_n, c_n) = lstm(x)
    assert np.abs(output.numpy() - h[:, :, -1]).max() < 1e-5
    assert np.abs(h_n.numpy() - h[:, -1].transpose(1, 0, 2)).max() < 1e-5
    assert np.abs(c_n.numpy() - c[:, -1].transpose(1, 0, 2)).max() < 1e-5
    # 2. the equations, every layer, every step, and the gates
    H, C, G = numpy_lstm(lstm, x.numpy())
    assert np.abs(H - h).max() < 1e-5 and np.abs(C - c).max() < 1e-5
    for name in "ifgo":
        gate = recording.encoder.gates[name].numpy()
        assert np.abs(G[name] - gate).max() < 1e-5, name
    assert gates.gate_consistency(lstm, recording.encoder) < 1e-5
    # 3. the forecast is the model's own
    with torch.no_grad():
        assert (model(x)[0] - recording.prediction_scaled).abs().max() < 1e-5
    checks = check.check_windows(model, x, recording)
    assert max(checks.values()) < 1e-5


def test_seq2seq_decoder_starts_from_the_encoders_handed_over_state():
    torch.manual_seed(0)
    model = build_model(Seq2SeqConfig(kind="seq2seq", hidden_size=5, num_layers=2, proj_size=2), layout=1,
                        horizon=3).eval()
    x = torch.randn(4, 6, 1)
    recording = record.record(model, x)
    handed = recording.encoder.last()
    gates.add_gates(model.decoder, recording.decoder, recording.decoder_input[:, :, None], handed)
    H, C, _ = numpy_lstm(model.decoder, recording.decoder_input[:, :, None].numpy(),
                         handed[0].double().numpy(), handed[1].double().numpy())
    dh, dc = recording.decoder.h, recording.decoder.c
    assert np.abs(H - dh.numpy()).max() < 1e-5 and np.abs(C - dc.numpy()).max() < 1e-5
    # each decoder input is the previous step's prediction; the first is the last observed value
    torch.testing.assert_close(recording.decoder_input[:, 0], x[:, -1, 0])
    torch.testing.assert_close(recording.decoder_input[:, 1:], recording.prediction_scaled[:, :-1])
    assert gates.gate_consistency(model.decoder, recording.decoder, handed) < 1e-5


def test_stream_mode_is_one_continuous_pass():
    torch.manual_seed(0)
    model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=6, num_layers=2), layout=1,
                        horizon=2).eval()
    x = torch.randn(1, 50, 1)
    recording = record.record_stream(model, x)[0]
    with torch.no_grad():
        output, _ = model.lstm(x)
        expected = model.head(output[0])
    h, _ = recording.encoder.h, recording.encoder.c
    assert (output[0] - h[0, :, -1]).abs().max() < 1e-5
    assert (expected - recording.prediction_scaled).abs().max() < 1e-5


def test_dump_states_npz_matches_predict_and_documents_itself(runner, trained_runs, tmp_path):
    for kind, run in trained_runs.items():
        out = tmp_path / f"{kind}.npz"
        result = runner.invoke(app, ["dump-states", str(run), "--out", str(out), "--gates", "--json"])
        assert result.exit_code == 0, result.output
        dump = load_dump(out)
        meta = dump.meta
        assert meta["self_check"]["max_abs_error"] < 1e-5
        windows = meta["windows"]
        assert windows == 743 - 1 - 12 + 1  # every window end from lookback on (one row consumed by log_return)
        assert dump["h"].shape == (windows, 12, 2, meta["h_units"]) and dump["c"].shape[-1] == 6
        assert meta["h_units"] == (3 if kind == "many_to_one" else 6)
        if kind == "many_to_one":  # trained with proj_size 3: the dump says h is projected and c is not
            assert "proj_size=3" in meta["note"] and "c has hidden_size=6 units" in meta["note"]
        else:
            assert "note" not in meta
        predicted = json.loads(runner.invoke(app, ["predict", str(run), "--json"]).stdout)["forecast"]
        np.testing.assert_allclose(dump["prediction"][-1], [row["value"] for row in predicted], rtol=1e-6)
        assert str(dump["origin_date"][-1])[:10] == "2018-11-01"
        assert np.isnan(dump["target"][-1]).all() and not np.isnan(dump["target"][0]).any()
        np.testing.assert_array_equal(dump["step_date"][0, -1], dump["origin_date"][0])
        if kind == "seq2seq":
            assert dump["decoder_h"].shape == (windows, 4, 2, 6) and "decoder_gate_f" in dump.arrays
        else:
            np.testing.assert_array_equal(dump["head_input"], dump["h"][:, -1, -1])


def test_every_format_opens_with_its_users_library(runner, trained_runs, tmp_path):
    import h5py

    run = trained_runs["many_to_one"]
    base = ["dump-states", str(run), "--from", "2015-01-01", "--chunk-size", "7"]
    assert runner.invoke(app, [*base, "--format", "npy", "--out", str(tmp_path / "npy")]).exit_code == 0
    h = np.load(tmp_path / "npy" / "h.npy", mmap_mode="r", allow_pickle=False)
    meta = json.loads((tmp_path / "npy" / "meta.json").read_text())
    assert h.shape == (47, 12, 2, 3) and meta["windows"] == 47
    assert runner.invoke(app, [*base, "--format", "parquet", "--out", str(tmp_path / "s.parquet")]).exit_code == 0
    table = pd.read_parquet(tmp_path / "s.parquet")
    lookback = table[table.phase == "lookback"]
    assert len(lookback) == 47 * 12 and len(table[table.phase == "horizon"]) == 47 * 4
    np.testing.assert_allclose(lookback["h_l1_u2"].to_numpy(), h[:, :, 1, 2].reshape(-1), rtol=1e-6)
    assert lookback["date"].iloc[11] == pd.Timestamp("2015-01-01")
    assert load_dump(tmp_path / "s.parquet").meta["self_check"]["max_abs_error"] < 1e-5
    result = runner.invoke(app, [*base, "--format", "lstmvis", "--out", str(tmp_path / "vis")])
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "vis" / "states.h5") as states:
        assert states["output2"].shape == (47 * 12, 3) and states["states2"].shape == (47 * 12, 6)
        np.testing.assert_allclose(states["output2"][:12], h[0, :, 1])
    assert "path: word_ids" in (tmp_path / "vis" / "lstm.yml").read_text()


def test_stream_dump_and_plot(runner, trained_runs, tmp_path):
    run = trained_runs["seq2seq"]
    result = runner.invoke(app, ["dump-states", str(run), "--mode", "stream", "--out", str(tmp_path / "s.npz"),
                                 "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    dump = load_dump(tmp_path / "s.npz")
    assert dump["h"].shape == (1, 742, 2, 6) and dump["prediction"].shape == (1, 742, 4)
    assert dump.meta["self_check"]["max_abs_error"] < 1e-5
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_a_dump_that_cannot_fit_is_refused_before_writing(runner, trained_runs, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    result = runner.invoke(app, ["dump-states", str(trained_runs["many_to_one"]), "--out", str(tmp_path / "d.npz")])
    assert result.exit_code == 6 and "MiB free" in result.output
    assert list(tmp_path.iterdir()) == []


def test_existing_dump_is_kept_without_force(runner, trained_runs, tmp_path):
    out = tmp_path / "d.npz"
    out.write_bytes(b"keep")
    result = runner.invoke(app, ["dump-states", str(trained_runs["many_to_one"]), "--out", str(out)])
    assert result.exit_code == 6 and out.read_bytes() == b"keep"


def test_stream_from_a_date_carries_the_state_from_the_series_start(runner, trained_runs, tmp_path):
    """Issue 11.11: --from restarted the stream from a zero state at that date."""
    for kind, run in trained_runs.items():
        whole, part = tmp_path / f"{kind}_whole.npz", tmp_path / f"{kind}_part.npz"
        for out, extra in ((whole, []), (part, ["--from", "2010-01-01", "--to", "2015-06-01"])):
            result = runner.invoke(app, ["dump-states", str(run), "--mode", "stream", "--gates", "--out", str(out),
                                         *extra])
            assert result.exit_code == 0, result.output
        a, b = load_dump(whole), load_dump(part)
        dates = a["step_date"][0]
        keep = (dates >= np.datetime64("2010-01-01")) & (dates <= np.datetime64("2015-06-01"))
        assert b["h"].shape[1] == keep.sum() == 66 and b.meta["first_date"] == "2010-01-01"
        assert b.meta["stream_start"] == a.meta["stream_start"] == "1957-02-01"
        for name in a.arrays:
            # The encoder's states are bitwise equal (the chunks carry them exactly). What is computed over a chunk's
            # steps as one batch (gates, a seq2seq decoder run from every step) agrees to float32 rounding.
            expected = a[name][:, keep] if a[name].ndim > 1 and a[name].shape[:2] == a["step_date"].shape else a[name]
            if "gate_" in name or (kind == "seq2seq" and name.startswith(("prediction", "decoder", "head"))):
                np.testing.assert_allclose(b[name], expected, rtol=1e-6, atol=1e-6, err_msg=f"{kind} {name}")
            else:
                np.testing.assert_array_equal(b[name], expected, err_msg=f"{kind} {name}")
        assert b.meta["self_check"]["max_abs_error"] < 1e-5


def test_stream_chunks_equal_one_pass_bitwise_and_decoder_states_match_windows_mode(trained_runs):
    """Issue 17: the stream cut into stretches equals one pass; its decoder states equal windows mode's."""
    from lstmcast.runs.load import open_run, run_data

    run = open_run(trained_runs["seq2seq"])
    _, prepared = run_data(run)
    x = prepared.tensor()[None]
    whole, _ = record.record_stream(run.model, x)
    chunked = list(record.record_stream_chunks(run.model, (x[:, i : i + 100] for i in range(0, x.shape[1], 100))))
    torch.testing.assert_close(torch.cat([c.recording.encoder.h for c in chunked], 1), whole.encoder.h, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([c.recording.decoder.c for c in chunked], 0), whole.decoder.c, rtol=0, atol=0)
    # the decoder recorded from the stream's state at step t is what windows mode records from that same state
    # (one sample there, every step as one batch here: equal to float32 rounding)
    t = 300
    windows = record.decode(run.model, whole.encoder, x[0, t : t + 1, :1],
                            (whole.encoder.h[0, t].unsqueeze(1), whole.encoder.c[0, t].unsqueeze(1)))
    torch.testing.assert_close(windows.decoder.h[0], whole.decoder.h[t], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(windows.prediction_scaled[0], whole.prediction_scaled[t], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("proj", [0, 3])
def test_each_recorded_step_is_the_modules_own_step_bit_for_bit(proj):
    """step_lstm calls torch.lstm directly: the numbers of nn.LSTM.forward called one step at a time, exactly."""
    torch.manual_seed(proj)
    lstm = torch.nn.LSTM(2, 7, 2, batch_first=True, dropout=0.5, proj_size=proj).eval()
    x = torch.randn(9, 12, 2)
    initial = (torch.randn(2, 9, proj or 7), torch.randn(2, 9, 7))
    for state in (None, initial):
        with torch.inference_mode():
            trajectory, last = record.step_lstm(lstm, x, state)
            for t in range(12):
                _, state = lstm(x[:, t : t + 1], state)
                assert torch.equal(trajectory.h[:, t].transpose(0, 1), state[0])
                assert torch.equal(trajectory.c[:, t].transpose(0, 1), state[1])
            assert torch.equal(last[0], state[0]) and torch.equal(last[1], state[1])


def test_a_chunk_without_windows_records_empty_arrays():
    model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=7, num_layers=2), layout=2, horizon=4).eval()
    (item,) = record.record_chunks(model, [torch.randn(0, 12, 2)], gates=True, workers=1)
    assert item.recording.encoder.h.shape == (0, 12, 2, 7) and item.recording.encoder.gates["o"].shape == (0, 12, 2, 7)


def test_a_recording_held_by_the_caller_is_never_overwritten(trained_runs):
    """Buffers are reused across chunks only once nothing refers to them: a gate view or a numpy array kept from an
    early chunk keeps its values while later chunks are recorded, and dropped chunks lend their buffers again."""
    from lstmcast.introspect.buffers import Buffers
    from lstmcast.runs.load import open_run, run_data

    run = open_run(trained_runs["many_to_one"])
    _, prepared = run_data(run)
    ends = np.arange(prepared.lookback - 1, len(prepared.dates))
    chunks = [prepared.windows(ends[i : i + 32])[0] for i in range(0, 32 * 12, 32)]
    kept_gate, kept_c, pointers = None, None, set()
    for index, item in enumerate(record.record_chunks(run.model, chunks, gates=True, workers=2)):
        pointers.add(item.recording.encoder.c.data_ptr())
        if index == 0:
            kept_gate = item.recording.encoder.gates["f"][:, 5:]  # a view into the first chunk's gate buffer
            kept_c = item.recording.encoder.c.numpy()
            gate_then, c_then = kept_gate.clone(), kept_c.copy()
    assert torch.equal(kept_gate, gate_then) and np.array_equal(kept_c, c_then)
    fresh = record.record(run.model, chunks[0])
    gates.add_gates(run.model.encoder, fresh.encoder, chunks[0])
    assert torch.equal(kept_gate, fresh.encoder.gates["f"][:, 5:]) and np.array_equal(kept_c, fresh.encoder.c.numpy())
    assert len(pointers) < len(chunks)  # buffers were reused

    buffers = Buffers(limit=2)
    first = buffers.empty((3, 4), torch.float32)
    first_address, view = first.data_ptr(), first[1:].numpy()
    del first
    second = buffers.empty((3, 4), torch.float32)
    assert second.data_ptr() != first_address and view.shape == (2, 4)  # still read through `view`: not lent again
    address = second.data_ptr()
    del second
    assert buffers.empty((3, 4), torch.float32).data_ptr() == address  # nothing refers to it: lent again
    assert buffers.empty((3, 5), torch.float32).shape == (3, 5)


def test_threaded_recording_equals_serial_recording(trained_runs):
    from lstmcast.runs.load import open_run, run_data

    run = open_run(trained_runs["many_to_one"])
    _, prepared = run_data(run)
    ends = np.arange(prepared.lookback - 1, len(prepared.dates))
    chunks = [prepared.windows(ends[i : i + 64])[0] for i in range(0, len(ends), 64)]
    serial = list(record.record_chunks(run.model, chunks, gates=True, workers=1))
    threaded = list(record.record_chunks(run.model, chunks, gates=True, workers=2))
    assert len(serial) == len(threaded) == len(chunks)
    for a, b in zip(serial, threaded):
        torch.testing.assert_close(a.recording.encoder.c, b.recording.encoder.c, rtol=0, atol=0)
        torch.testing.assert_close(a.recording.encoder.gates["f"], b.recording.encoder.gates["f"], rtol=0, atol=0)


def test_to_limits_the_windows_and_every_format_carries_the_same_arrays(runner, trained_runs, tmp_path):
    run = trained_runs["seq2seq"]
    args = ["dump-states", str(run), "--from", "2016-01-01", "--to", "2016-12-01", "--gates"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "d.npz")]).exit_code == 0  # format from the suffix
    dump = load_dump(tmp_path / "d.npz")
    assert [str(d)[:10] for d in dump["origin_date"][[0, -1]]] == ["2016-01-01", "2016-12-01"]
    assert dump["decoder_h"].shape == (12, 4, 2, 6) and dump["decoder_gate_o"].shape == (12, 4, 2, 6)
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "d.parquet")])
    assert result.exit_code == 0, result.output
    table = load_dump(tmp_path / "d.parquet").table
    ahead = table[table.phase == "horizon"]
    np.testing.assert_allclose(ahead["decoder_input"], dump["decoder_input"].reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(ahead["head_input_u3"], dump["head_input"][:, :, 3].reshape(-1), rtol=1e-6)
    assert (table.groupby("window")["origin_date"].nunique() == 1).all()


def test_the_parquet_estimate_is_not_low(trained_runs, tmp_path):
    from lstmcast.outputs.dumpfiles import estimate_bytes
    from lstmcast.workflows.dump import DumpRequest, dump_states

    for with_gates in (False, True):
        outcome = dump_states(DumpRequest(trained_runs["seq2seq"], out=tmp_path / f"{with_gates}.parquet",
                                          gates=with_gates))
        layout = {name: dumpfiles_spec(spec) for name, spec in outcome.meta["arrays"].items()}
        assert estimate_bytes(layout, "parquet") >= outcome.path.stat().st_size


def dumpfiles_spec(spec: dict):
    from lstmcast.outputs.dumpfiles import Spec

    return Spec(tuple(spec["shape"]), spec["dtype"])


def test_a_crafted_npz_cannot_make_numpy_allocate(tmp_path):
    """Issue 11: a 3 MB npz made lstmcast.states.load allocate 3 GiB."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (400_000_000,)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("h.npy", header.getvalue() + b"\x00" * 3_000_000)
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.writestr("h.npy", header.getvalue() + b"\x00" * 3_000_000)
    for name in ("bomb.npz", "liar.npz"):
        with pytest.raises(ModelFileError, match="not a readable lstmcast dump"):
            load_dump(tmp_path / name)
