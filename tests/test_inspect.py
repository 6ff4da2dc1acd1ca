"""Issue 15: `lstmcast inspect`. Its numbers are recomputed here from a state dump with numpy, its probes are tried on
a series with a planted volatility unit and on noise, its attributions are checked for completeness and against
direct occlusion, its drift covariance against scikit-learn, and its report is opened in a real browser."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from lstmcast.cli import app
from lstmcast.introspect.attribution import attribute
from lstmcast.introspect.drift import DriftReference, ledoit_wolf
from lstmcast.introspect.probes import probe_table
from lstmcast.introspect.quantities import named_quantities
from lstmcast.runs.load import open_run, run_data
from tests.conftest import DATA

FROM = "2008-01-01"  # CPI: about 200 monthly origins up to the end of the data


@pytest.fixture(scope="module")
def inspected(trained_runs, tmp_path_factory):
    """Each tiny run inspected from FROM, and a dump of the same windows with gates."""
    from typer.testing import CliRunner

    base, found = tmp_path_factory.mktemp("inspect"), {}
    for kind, run in trained_runs.items():
        report, dump = base / f"{kind}-report", base / f"{kind}.npz"
        result = CliRunner().invoke(app, ["inspect", str(run), "--from", FROM, "--out", str(report),
                                          "--attribution-windows", "6", "--json"])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(app, ["dump-states", str(run), "--gates", "--from", FROM, "--out", str(dump)])
        assert result.exit_code == 0, result.output
        found[kind] = (report, dict(np.load(dump)), json.loads((report / "summary.json").read_text()))
    return found


def test_gate_saturation_and_half_lives_match_numpy_on_the_dump(inspected):
    for kind, (report, dump, summary) in inspected.items():
        assert summary["windows"] == len(dump["origin_date"])
        table = pd.read_csv(report / "gate_saturation.csv")
        assert set(table["gate"]) == {"i", "f", "o"}
        for row in table.itertuples():
            values = dump[f"gate_{row.gate}"][:, :, row.layer, row.unit]  # every step of every window
            assert row.left_saturated == pytest.approx((values < 0.1).mean(), abs=1e-12), kind
            assert row.right_saturated == pytest.approx((values > 0.9).mean(), abs=1e-12), kind
        units = pd.read_csv(report / "units.csv")
        for row in units.itertuples():
            forget = dump["gate_f"][:, :, row.layer, row.unit].astype(np.float64)
            assert row.half_life == pytest.approx(np.log(0.5) / np.log(forget).mean(), rel=1e-9)
            c = dump["c"][:, :, row.layer, row.unit]
            assert row.c_saturated == pytest.approx((np.abs(np.tanh(c)) > 0.95).mean(), abs=1e-12)
            if kind == "seq2seq":  # without proj_size h is bounded by 1, and its saturation is reported
                h = dump["h"][:, :, row.layer, row.unit]
                assert row.h_saturated == pytest.approx((np.abs(h) > 0.95).mean(), abs=1e-12)
        assert ("h_saturated" in units) == (kind == "seq2seq")
        assert (report / "decoder_gate_saturation.csv").exists() == (kind == "seq2seq")
    report, dump, _ = inspected["seq2seq"]  # the decoder's gates, over every horizon step of every window
    table = pd.read_csv(report / "decoder_gate_saturation.csv")
    assert len(table) == 3 * dump["decoder_gate_i"].shape[2] * dump["decoder_gate_i"].shape[3]
    for row in table.itertuples():
        values = dump[f"decoder_gate_{row.gate}"][:, :, row.layer, row.unit]
        assert row.left_saturated == pytest.approx((values < 0.1).mean(), abs=1e-12)
        assert row.right_saturated == pytest.approx((values > 0.9).mean(), abs=1e-12)
    decoder_units = pd.read_csv(report / "decoder_units.csv")
    for row in decoder_units.itertuples():
        forget = dump["decoder_gate_f"][:, :, row.layer, row.unit].astype(np.float64)
        assert row.half_life == pytest.approx(np.log(0.5) / np.log(forget).mean(), rel=1e-9)


def test_unit_correlations_match_numpy_and_the_quantities_are_computed_by_hand(inspected):
    csv = pd.read_csv(DATA / "us_core_cpi_monthly.csv", parse_dates=["observation_date"]).set_index(
        "observation_date")["CPILFESL"]
    log_return = np.log(csv).diff()
    volatility = log_return.rolling(21).std()
    for kind, (report, dump, _) in inspected.items():
        origins = pd.to_datetime(dump["origin_date"])
        expected = {"return": log_return.reindex(origins).to_numpy(),
                    "abs_return": log_return.abs().reindex(origins).to_numpy(),
                    "realised_vol_5": log_return.rolling(5).std().reindex(origins).to_numpy(),
                    "realised_vol_21": volatility.reindex(origins).to_numpy(),
                    "drawdown": (csv / csv.cummax() - 1).reindex(origins).to_numpy(),
                    "forecast_error": dump["prediction"][:, 0] - dump["target"][:, 0]}
        units = pd.read_csv(report / "tracking_units.csv")
        for state, values in {"h layer 1": dump["h"][:, -1, 1], "c layer 0": dump["c"][:, -1, 0]}.items():
            for name, quantity in expected.items():
                keep = np.isfinite(quantity)
                for unit in range(values.shape[1]):
                    r = np.corrcoef(values[keep, unit].astype(np.float64), quantity[keep])[0, 1]
                    found = units[(units.state == state) & (units.quantity == name) & (units.unit == unit)]["r"]
                    assert float(found.iloc[0]) == pytest.approx(r, abs=1e-6), (kind, state, name, unit)
        tracking = pd.read_csv(report / "tracking.csv")
        best = units.assign(abs_r=units.r.abs()).groupby(["state", "quantity"]).abs_r.max()
        for row in tracking.itertuples():
            assert row.abs_r == pytest.approx(best[(row.state, row.quantity)], abs=1e-12)
            assert row.beats_controls == (row.abs_r > max(row.random_lstm_abs_r, row.raw_window_abs_r))


def _planted(volatile: bool, rows: int = 3000, seed: int = 3):
    """Returns with (or without) volatility regimes; "trained" states where unit 0 is an EWMA of squared returns (a
    volatility tracker) and the rest noise; "random" states: noise of the same shape; the raw window of 8 returns."""
    rng = np.random.default_rng(seed)
    scale = np.exp(np.cumsum(rng.normal(0, 0.08, rows))) if volatile else np.ones(rows)
    step = rng.normal(0, 0.01, rows) * scale / scale.mean()
    price = 100 * np.exp(np.cumsum(step))
    quantities, _ = named_quantities(price)
    ewma = pd.Series(np.r_[0, np.diff(np.log(price))] ** 2).ewm(halflife=10).mean().to_numpy() ** 0.5
    noise = rng.normal(size=(rows, 7))
    trained = np.column_stack([ewma, noise]) if volatile else rng.normal(size=(rows, 8))
    window = np.lib.stride_tricks.sliding_window_view(np.r_[np.zeros(7), quantities["return"][1:], 0], 8)[:rows]
    return quantities["realised_vol_21"], {"trained": trained, "random_lstm": rng.normal(size=(rows, 8)),
                                           "raw_window": np.nan_to_num(window)}


@pytest.mark.parametrize("volatile", [True, False])
def test_probes_beat_their_controls_only_where_a_unit_tracks_volatility(volatile):
    target, features = _planted(volatile)
    fit, held = slice(30, 2000), slice(2000, 3000)
    table = probe_table({"trained": {"h layer 0": features["trained"][fit]},
                         "random_lstm": {"h layer 0": features["random_lstm"][fit]},
                         "raw_window": {"window": features["raw_window"][fit]}},
                        {"trained": {"h layer 0": features["trained"][held]},
                         "random_lstm": {"h layer 0": features["random_lstm"][held]},
                         "raw_window": {"window": features["raw_window"][held]}},
                        {"vol": target[fit]}, {"vol": target[held]})
    row = table.iloc[0]
    if volatile:
        assert row.r2 > 0.6 and row.selectivity > 0.4, row.to_dict()
    else:
        assert row.r2 < 0.05 and row.selectivity < 0.05, row.to_dict()


@pytest.mark.parametrize("kind", ["many_to_one", "seq2seq"])
def test_integrated_gradients_are_complete_and_occlusion_is_the_direct_difference(trained_runs, kind):
    run = open_run(trained_runs[kind])
    _, prepared = run_data(run)
    x = prepared.windows(prepared.origins("test")[:5])[0].clone()
    found = attribute(run.model, x, 1)
    assert found.residual.max() < 1e-3  # the bound; measured 1e-12 and below
    assert np.allclose(found.integrated.sum((2, 3)), found.change, rtol=1e-6, atol=1e-12)
    model = run.model.double()
    try:
        with torch.no_grad():
            occluded = x.double().clone()
            occluded[:, 7, 0] = 0
            direct = (model(x.double())[0] - model(occluded)[0]).numpy()
    finally:
        run.model.float()
    assert np.allclose(found.occlusion_steps[:, :, 7], direct, atol=1e-9)


def test_the_drift_covariance_is_ledoit_wolf_and_the_flag_fires_on_one_fresh_state_in_a_hundred():
    from sklearn.covariance import ledoit_wolf as reference

    rng = np.random.default_rng(0)
    states = rng.normal(size=(400, 30)) @ rng.normal(size=(30, 30))
    centred = states - states.mean(0)
    assert np.allclose(ledoit_wolf(centred), reference(centred, assume_centered=True)[0], atol=1e-10)
    for count, dims in ((500, 18), (1000, 256)):  # 256: two layers of 64 units, h and c
        mixing = rng.normal(size=(dims, dims)) / np.sqrt(dims)
        drift = DriftReference.fit(rng.normal(size=(count, dims)) @ mixing)
        fresh = rng.normal(size=(20_000, dims)) @ mixing  # the same distribution, never seen by the fit
        assert 0.004 < (drift.distance(fresh) > drift.threshold).mean() < 0.02  # in-sample ranks gave 38% at 256
        far = fresh.mean(0) + 50 * fresh.std(0)
        assert drift.quantile(drift.distance(far[None]))[0] == 1.0


def test_the_report_folder_holds_the_numbers_and_is_replaced_only_with_force(inspected, trained_runs, runner,
                                                                              tmp_path):
    report, dump, summary = inspected["seq2seq"]
    drift = pd.read_csv(report / "drift.csv")
    assert summary["drift"]["last_distance"] == pytest.approx(drift["distance"].iloc[-1])
    assert summary["self_check"] and max(summary["self_check"].values()) < 1e-5
    forecasts = pd.read_csv(report / "forecasts.csv")
    assert np.allclose(forecasts["forecast_1"], dump["prediction"][:, 0], rtol=1e-6)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["inspect", str(trained_runs["seq2seq"]), "--out", str(other), "--force"])
    assert result.exit_code != 0 and (other / "notes.txt").read_text() == "keep me"
    assert "Traceback" not in result.output
    ours = tmp_path / "ours"  # a real report, then the same with a user's file put inside: --force keeps that file
    shutil.copytree(report, ours)
    (ours / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["inspect", str(trained_runs["seq2seq"]), "--out", str(ours), "--force"])
    assert result.exit_code == 6 and "holds files lstmcast did not write" in result.output
    assert (ours / "notes.txt").read_text() == "keep me" and (ours / "report.html").is_file()
    (ours / "notes.txt").unlink()
    (ours / "summary.json").unlink()
    os.mkfifo(ours / "summary.json")  # nothing but our names, yet no marker to read: not ours, and no hang
    (ours / ".lstmcast").unlink()
    result = runner.invoke(app, ["inspect", str(trained_runs["seq2seq"]), "--out", str(ours), "--force"])
    assert result.exit_code == 6 and "not an inspection report" in result.output
    (ours / "summary.json").unlink()
    shutil.copy(report / "summary.json", ours / "summary.json")  # a report written before the marker file
    result = runner.invoke(app, ["inspect", str(trained_runs["seq2seq"]), "--out", str(ours), "--force",
                                 "--from", FROM, "--attribution-windows", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((ours / ".lstmcast").read_text())["kind"] == "lstmcast-inspection"
    result = runner.invoke(app, ["inspect", str(trained_runs["seq2seq"]), "--from", "2024-06-01"])
    assert result.exit_code == 3 and "widen --from/--to" in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TRACES = """() => {
  const values = v => v == null ? [] : ArrayBuffer.isView(v) ? Array.from(v) : Array.isArray(v) ? v.flatMap(values)
    : (typeof v === "object" && v._inputArray) ? values(v._inputArray) : [v];
  return Object.fromEntries(Array.from(document.querySelectorAll(".plotly-graph-div")).map(g => [g.id, g.data.map(
    t => [t.name, values(t.z !== undefined ? t.z : t.type === "histogram" ? t.x : t.y)])]));
}"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                                              ".ci/run installs it")
def test_the_report_opens_in_chromium_with_no_errors_and_every_plot_drawn(inspected, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    report = inspected["many_to_one"][0] / "report.html"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: errors.append(f"fetched {request.url}")
                    if not request.url.startswith(("file:", "data:", "blob:")) else None)
            page.goto(report.as_uri())
            page.wait_for_selector("body[data-plots]", timeout=60_000)
            plots = page.query_selector_all(".plotly-graph-div")
            assert int(page.evaluate("document.body.dataset.plots")) == len(plots) == 9
            for index, plot in enumerate(plots):
                shot = tmp_path / f"plot{index}.png"
                plot.screenshot(path=str(shot))
                pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
                assert pixels.shape[0] > 200 and pixels.std() > 10, f"plot {index} looks empty"
            traces = page.evaluate(TRACES)  # what the browser holds for each trace: drawn from the numbers
            for figure, drawn in traces.items():
                for name, values in drawn:
                    assert np.isfinite(np.array(values, dtype=np.float64)).sum() >= 1, (figure, name)
            windows = len(forecasts := pd.read_csv(report.parent / "forecasts.csv"))
            drawn = dict(traces["states-0"])
            assert np.allclose(drawn["forecast"], forecasts["forecast_1"], rtol=1e-9)
            actual = np.array(drawn["actual (next step)"], dtype=np.float64)  # blank past the data
            assert np.allclose(actual, forecasts["actual_1"], rtol=1e-9, equal_nan=True)
            assert len(drawn["c layer 1"]) == windows * 6  # every origin of every unit
            (_, distance), = traces["drift-0"]
            assert np.allclose(distance, pd.read_csv(report.parent / "drift.csv")["distance"], rtol=1e-9)
            zoom = ["2012-01-01", "2014-01-01"]  # zooming the states zooms the gates and the drift to the same dates
            page.evaluate("range => Plotly.relayout(document.getElementById('states-0'), {'xaxis.range': range})", zoom)
            for other in ("states-1", "drift-0"):
                found = page.evaluate(f"document.getElementById('{other}').layout.xaxis.range")
                assert [str(end)[:10] for end in found] == zoom, other
        finally:
            browser.close()
    assert errors == []


def test_predict_flags_the_final_states_drift_as_inspect_measures_it(inspected, trained_runs, runner, tmp_path):
    report, _, _ = inspected["many_to_one"]
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--json"])
    assert result.exit_code == 0, result.output
    drift = json.loads(result.stdout)["state_drift"]
    last = pd.read_csv(report / "drift.csv").iloc[-1]  # the same state: the window ending at the last row
    assert drift["distance"] == pytest.approx(last["distance"], rel=1e-6)
    assert drift["training_quantile"] == pytest.approx(last["training_quantile"])
    assert not drift["unusual"]
    frame = pd.read_csv(DATA / "us_core_cpi_monthly.csv")
    frame.loc[frame.index[-6:], "CPILFESL"] *= np.array([1.5, 0.7, 1.6, 0.6, 1.7, 0.5]).cumprod()  # wild months
    frame.to_csv(tmp_path / "wild.csv", index=False)
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--data", str(tmp_path / "wild.csv")])
    assert result.exit_code == 0 and "UNUSUAL" in result.output and "unusual state" in result.output, result.output
    frame.tail(30).to_csv(tmp_path / "recent.csv", index=False)
    result = runner.invoke(app, ["predict", str(trained_runs["many_to_one"]), "--data", str(tmp_path / "recent.csv")])
    assert result.exit_code == 0 and "no state drift flag" in result.output, result.output


def _independent_random_twin(model):
    """The control model rebuilt here: every nn.LSTM re-drawn as torch initialises it, from seed 0."""
    import copy

    twin = copy.deepcopy(model)
    torch.manual_seed(0)
    for module in twin.modules():
        if isinstance(module, torch.nn.LSTM):
            module.reset_parameters()
    return twin.eval()


def test_the_controls_and_the_probe_scores_are_recomputed_from_their_definitions(inspected, trained_runs):
    """The random-LSTM and raw-window controls of tracking and probes, and the probes' held-out R^2, from the
    definitions: a twin re-drawn from seed 0, the window's scaled values, probes fitted on the training windows."""
    from lstmcast.introspect.drift import final_states, reference_rows
    from lstmcast.introspect.probes import fit_probe, r_squared

    report, dump, summary = inspected["many_to_one"]
    run = open_run(trained_runs["many_to_one"])
    _, prepared = run_data(run)
    rows = np.searchsorted(prepared.dates.to_numpy(), pd.to_datetime(dump["origin_date"]).to_numpy())
    train = reference_rows(prepared, run.meta.target_dates["train"])
    twin = _independent_random_twin(run.model)
    assert not torch.equal(twin.encoder.weight_hh_l0, run.model.encoder.weight_hh_l0)
    quantities, _ = named_quantities(prepared.raw[:, 0])
    vol = quantities["realised_vol_21"]
    random_h = {part: final_states(twin, prepared.windows_at(at))[0][:, 1] for part, at in (("fit", train),
                                                                                            ("period", rows))}
    window = {part: prepared.windows_at(at)[..., :1].reshape(len(at), -1).numpy() for part, at in (("fit", train),
                                                                                                  ("period", rows))}

    def best(features, quantity):
        keep = np.isfinite(quantity)
        return max(abs(np.corrcoef(column[keep], quantity[keep])[0, 1]) for column in features.T.astype(np.float64))

    tracking = pd.read_csv(report / "tracking.csv").set_index(["state", "quantity"])
    row = tracking.loc[("h layer 1", "realised_vol_21")]
    assert row.random_lstm_abs_r == pytest.approx(best(random_h["period"], vol[rows]), abs=1e-6)
    assert row.raw_window_abs_r == pytest.approx(best(window["period"], vol[rows]), abs=1e-9)
    probes = pd.read_csv(report / "probes.csv").set_index(["state", "quantity"])
    held = pd.to_datetime(dump["origin_date"]) > pd.Timestamp(run.meta.target_dates["train"][1])
    assert held.sum() >= 20
    probe = probes.loc[("h layer 1", "realised_vol_21")]
    trained_fit = final_states(run.model, prepared.windows_at(train))[0][:, 1]
    for column, fit_x, held_x in (("r2", trained_fit, dump["h"][held, -1, 1]),
                                  ("random_lstm_r2", random_h["fit"], random_h["period"][held]),
                                  ("raw_window_r2", window["fit"], window["period"][held])):
        expected = r_squared(fit_probe(fit_x, vol[train]), held_x, vol[rows][held])
        assert probe[column] == pytest.approx(expected, abs=1e-5), column
    assert probe.selectivity == pytest.approx(probe.r2 - max(probe.random_lstm_r2, probe.raw_window_r2))


def test_units_are_ordered_by_clustering_similar_trajectories_together(inspected):
    from lstmcast.introspect.tracking import cluster_order

    rng = np.random.default_rng(1)
    first, second = rng.normal(size=(2, 300)).cumsum(1)
    columns = [first, second, first, second, first, second]  # two families of units, interleaved
    values = np.column_stack([column + rng.normal(0, 0.3, 300) for column in columns])
    order = list(cluster_order(values))
    assert sorted(order) == list(range(6)) and {frozenset(order[:3]), frozenset(order[3:])} == {
        frozenset({0, 2, 4}), frozenset({1, 3, 5})}
    for kind, (_, dump, summary) in inspected.items():  # the report orders each layer by its own c
        for layer in range(dump["c"].shape[2]):
            assert summary["unit_order"][f"layer {layer}"] == cluster_order(dump["c"][:, -1, layer]).tolist(), kind


def test_volume_is_tracked_where_the_csv_has_it(runner, tmp_path):
    from tests.conftest import write_config

    config = write_config(tmp_path / "c.yaml", training={"epochs": 1})  # MSFT Close; Volume is in the CSV
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", str(config), "--out", str(run)]).exit_code == 0
    report, dump = tmp_path / "report", tmp_path / "d.npz"
    for command in (["inspect", str(run), "--from", "2017-01-03", "--attribution-windows", "2", "--out", str(report)],
                    ["dump-states", str(run), "--from", "2017-01-03", "--out", str(dump)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    csv = pd.read_csv(DATA / "msft_daily_ohlcv.csv", parse_dates=["Date"]).set_index("Date")
    recorded = np.load(dump)
    volume = np.log1p(csv["Volume"].reindex(pd.to_datetime(recorded["origin_date"])).to_numpy(dtype=np.float64))
    units = pd.read_csv(report / "tracking_units.csv")
    found = units[(units.state == "c layer 0") & (units.quantity == "volume")].sort_values("unit")["r"].to_numpy()
    expected = [np.corrcoef(recorded["c"][:, -1, 0, unit].astype(np.float64), volume)[0, 1]
                for unit in range(recorded["c"].shape[3])]
    assert np.allclose(found, expected, atol=1e-6)


def test_the_gradient_reach_is_the_gradient_at_the_window(trained_runs):
    run = open_run(trained_runs["seq2seq"])
    _, prepared = run_data(run)
    x = prepared.windows(prepared.origins("test")[:4])[0].clone()
    found = attribute(run.model, x, 1)
    import copy

    model = copy.deepcopy(run.model).double().eval()
    window = x.double().requires_grad_(True)
    (model(window)[0][:, 2].sum()).backward()  # the third forecast step
    direct = window.grad[..., :1].numpy()
    assert np.allclose(found.gradient[:, 2], direct, rtol=1e-9, atol=1e-12)
    by_lag = np.abs(direct).sum(-1).mean(0)[::-1]  # lag 0: the window's last step
    assert np.allclose(found.gradient_by_lag[2], by_lag, rtol=1e-9, atol=1e-15)
    assert found.reach_lags[2] == int(np.flatnonzero(by_lag >= 0.01 * by_lag.max()).max())


def test_saturation_counts_follow_their_thresholds_over_chunks():
    """Values spread over every threshold (0.1, 0.9 for the gates; 0.95 for |h| and |tanh c|), added in two chunks:
    the shares are numpy's over all the steps at once."""
    from lstmcast.introspect.saturation import Saturation

    rng = np.random.default_rng(2)
    h, c = rng.uniform(-1, 1, (2, 5, 7, 2, 4)), rng.uniform(-3, 3, (2, 5, 7, 2, 4))
    gates = {name: rng.uniform(0, 1, (2, 5, 7, 2, 4)) for name in "ifgo"}
    found = Saturation()
    for part in range(2):
        found.add(h[part], c[part], {name: value[part] for name, value in gates.items()})
    units, table = found.units(), found.gates()
    for layer in range(2):
        for unit in range(4):
            row = units[(units.layer == layer) & (units.unit == unit)].iloc[0]
            assert row.h_saturated == pytest.approx((np.abs(h[..., layer, unit]) > 0.95).mean())
            assert row.c_saturated == pytest.approx((np.abs(np.tanh(c[..., layer, unit])) > 0.95).mean())
            for gate in "ifo":
                values = gates[gate][..., layer, unit]
                cell = table[(table.layer == layer) & (table.unit == unit) & (table.gate == gate)].iloc[0]
                assert cell.left_saturated == pytest.approx((values < 0.1).mean())
                assert cell.right_saturated == pytest.approx((values > 0.9).mean())
