"""Issue 13, first step: panels of series read from long and wide files, prepared per series without look-ahead, one
global model trained on windows of every series, scored per series and pooled, forecast per series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lstmcast.cli import app
from lstmcast.config import build_config
from lstmcast.data.panel import load_panel
from lstmcast.data.panelprep import cutoffs, prepare_panel
from lstmcast.errors import ConfigError, DataError
from lstmcast.evaluation.pooled import pooled_diebold_mariano, pooled_metrics, scaled_losses
from lstmcast.evaluation.significance import diebold_mariano
from lstmcast.outputs.tables import is_forecast_csv

DAYS = pd.bdate_range("2015-01-01", periods=420)
STARTS = {"BBB": 0, "AAA": 30, "CCC": 60}  # different first dates; CCC also has a gap


def _panel_frame(shift: dict[str, tuple[int, float]] | None = None) -> pd.DataFrame:
    """A long frame of three random-walk prices (Ticker, Date, Close, Volume); `shift` multiplies a series' prices
    from a row on: {id: (row, factor)}."""
    rng = np.random.default_rng(7)
    rows = []
    for name, start in STARTS.items():
        dates = DAYS[start:]
        prices = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
        volume = rng.integers(1_000, 5_000, len(dates)).astype(float)
        if shift and name in shift:
            row, factor = shift[name]
            prices[row:] *= factor
        frame = pd.DataFrame({"Ticker": name, "Date": dates.strftime("%Y-%m-%d"), "Close": prices, "Volume": volume})
        if name == "CCC":
            frame = frame.drop(frame.index[100:104])  # a gap of four sessions
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _long(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False, float_format="%.10g")
    return path


def _wide(path: Path, frame: pd.DataFrame) -> Path:
    wide = frame.pivot(index="Date", columns="Ticker", values="Close").reset_index()
    wide.to_csv(path, index=False, float_format="%.10g")  # blanks before a series starts and in CCC's gap
    return path


def _config(path: Path, csv: Path, **data) -> Path:
    config = {
        "data": {"path": str(csv), "target": "Close", "series_column": "Ticker", "series": "all", "lookback": 10,
                 "horizon": 2, "missing": "drop", **data},
        "model": {"kind": "many_to_one", "hidden_size": 6, "num_layers": 1},
        "training": {"epochs": 2, "batch_size": 64, "seed": 0, "threads": 1},
    }
    config["data"] = {key: value for key, value in config["data"].items() if value is not None}
    path.write_text(yaml.safe_dump(config))
    return path


def _train(runner, config: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["train", str(config), "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "meta.json").read_text())


def _data(csv: Path, **data):
    raw = {"path": str(csv), "target": "Close", "series_column": "Ticker", "series": "all", "lookback": 10,
           "horizon": 2, "missing": "drop", **data}
    return build_config({"data": {k: v for k, v in raw.items() if v is not None}, "model": {"kind": "many_to_one"}},
                        source="test").data


def test_a_long_and_a_wide_file_of_the_same_data_give_identical_runs(runner, tmp_path):
    frame = _panel_frame()
    long_meta = _train(runner, _config(tmp_path / "long.yaml", _long(tmp_path / "long.csv", frame)), tmp_path / "a")
    wide = _config(tmp_path / "wide.yaml", _wide(tmp_path / "wide.csv", frame), layout="wide", series_column=None)
    wide_meta = _train(runner, wide, tmp_path / "b")
    assert long_meta["weights_sha256"] == wide_meta["weights_sha256"]
    assert long_meta["panel"]["series"] == wide_meta["panel"]["series"]
    assert list(long_meta["panel"]["series"]) == ["AAA", "BBB", "CCC"]  # sorted ids, whatever the file's order


def test_a_one_series_panel_equals_the_single_series_run(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    single = _train(runner, _config(tmp_path / "one.yaml", csv, series="BBB"), tmp_path / "one")
    panel = _train(runner, _config(tmp_path / "panel.yaml", csv, series=["BBB"]), tmp_path / "panel")
    assert single["weights_sha256"] == panel["weights_sha256"]
    member = panel["panel"]["series"]["BBB"]
    assert member["test_metrics"]["model"] == single["test_metrics"]["model"]
    assert member["scaler"] == single["scaler"]
    assert member["conformal"] == single["conformal"]


def test_one_cut_off_date_for_every_series_and_scalers_from_each_series_own_training_rows(tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    data = _data(csv)
    panel = load_panel(data)
    prepared, notices = prepare_panel(panel, data)
    validation_start, test_start = cutoffs(panel, data)
    assert notices == [] and prepared.validation_start == validation_start
    union = np.unique(np.concatenate([s.dates[1:].to_numpy() for s in panel.members.values()]))
    assert test_start == union[len(union) - round(0.15 * len(union))]  # fractions of the panel's dates
    for name, member in prepared.members.items():
        dates = member.dates
        assert dates[member.train_end - 1] < validation_start <= dates[member.train_end]
        assert dates[member.validation_end - 1] < test_start <= dates[member.validation_end]
        prices = panel.members[name].values["Close"].to_numpy()
        returns = np.diff(np.log(prices))[: member.train_end]
        np.testing.assert_allclose(member.scaler.center, [returns.mean()], rtol=1e-12)
        np.testing.assert_allclose(member.scaler.scale, [returns.std()], rtol=1e-12)


def test_windows_never_cross_series_and_batches_mix_them(tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    data = _data(csv)
    prepared, _ = prepare_panel(load_panel(data), data)
    for split in ("train", "validation", "test"):
        windows = prepared.split_windows((split,))[split]
        x, y = windows.batch(np.arange(len(windows)))
        own = [member.windows(member.origins(split)) for member in prepared.members.values()]
        np.testing.assert_array_equal(x.numpy(), np.concatenate([part[0].numpy() for part in own]))
        np.testing.assert_array_equal(y.numpy(), np.concatenate([part[1].numpy() for part in own]))
        assert sorted(set(windows.series.tolist())) == [0, 1, 2]


def test_a_series_future_changes_no_forecast_of_any_series_before_it(runner, tmp_path):
    frame = _panel_frame()
    first_test = cutoffs(load_panel(_data(_long(tmp_path / "a.csv", frame))), _data(tmp_path / "a.csv"))[1]
    row = int(np.searchsorted(DAYS[STARTS["BBB"]:], first_test)) + 20  # 20 sessions into the test split
    changed = _panel_frame(shift={"BBB": (row, 1.5)})
    runs = {}
    for name, data in (("a", frame), ("b", changed)):
        runs[name] = _train(runner, _config(tmp_path / f"{name}.yaml", _long(tmp_path / f"{name}.csv", data)),
                            tmp_path / f"run_{name}")
    assert runs["a"]["weights_sha256"] == runs["b"]["weights_sha256"]  # training and validation never saw it
    before = str(DAYS[STARTS["BBB"] + row - 1].date())
    outputs = [runner.invoke(app, ["predict", str(tmp_path / f"run_{name}"), "--data", str(tmp_path / f"{name}.csv"),
                                   "--as-of", before, "--out", "-"]) for name in ("a", "b")]
    assert outputs[0].exit_code == 0, outputs[0].output
    assert outputs[0].stdout == outputs[1].stdout and outputs[0].stdout.count("\n") == 1 + 3 * 2


def test_a_short_series_is_skipped_with_a_notice_or_refused_with_strict(runner, tmp_path):
    frame = _panel_frame()
    late = frame[frame.Ticker == "AAA"].tail(30).assign(Ticker="NEW")  # only test-split rows
    csv = _long(tmp_path / "long.csv", pd.concat([frame, late]))
    config = _config(tmp_path / "c.yaml", csv)
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "series NEW skipped: 0 training" in result.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert list(meta["panel"]["skipped"]) == ["NEW"] and "NEW" not in meta["panel"]["series"]
    strict = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "strict"), "--strict"])
    assert strict.exit_code != 0 and "(series NEW): 0 training" in strict.output and "--strict" in strict.output
    refused = runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "NEW"])
    assert refused.exit_code != 0 and "skipped in training" in refused.output


def test_refusals_name_the_series(tmp_path):
    frame = _panel_frame()
    frame.loc[frame.index[frame.Ticker == "CCC"][50], "Close"] = np.nan
    csv = _long(tmp_path / "long.csv", frame)
    with pytest.raises(DataError, match=r"\(series CCC\): column 'Close': missing values on line"):
        load_panel(_data(csv, missing="error"))
    frame = frame.astype({"Close": object})
    frame.loc[frame.index[frame.Ticker == "BBB"][7], "Close"] = "12,5"  # the whole-file parse refuses it...
    line = int(frame.index[frame.Ticker == "BBB"][7]) + 2
    with pytest.raises(DataError, match=rf"\(series BBB\): column 'Close': not a number \(line {line}: '12,5'"):
        load_panel(_data(_long(tmp_path / "bad.csv", frame), missing="drop"))  # ...and the series is named
    assert list(load_panel(_data(tmp_path / "bad.csv", series=["AAA"])).members) == ["AAA"]  # BBB's cell not read
    with pytest.raises(DataError, match="no series with Ticker = 'AAB'; did you mean 'AAA'"):
        load_panel(_data(csv, series=["AAA", "AAB"]))
    with pytest.raises(ConfigError, match="a wide file holds one value per series"):
        build_config({"data": {"path": "x.csv", "target": "Close", "layout": "wide", "series": "all",
                               "features": ["Volume"]}, "model": {"kind": "many_to_one"}}, source="test")
    with pytest.raises(ConfigError, match="list each series once"):
        _data(csv, series=["AAA", "AAA"])


def test_predict_forecasts_every_series_and_writes_one_csv(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    _train(runner, _config(tmp_path / "c.yaml", csv), tmp_path / "run")
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--levels", "80"])
    assert result.exit_code == 0, result.output
    forecasts = json.loads(result.stdout)["forecasts"]
    assert [f["series"] for f in forecasts] == ["AAA", "BBB", "CCC"]
    for forecast in forecasts:
        for row in forecast["forecast"]:
            assert row["intervals"]["80"]["lower"] < row["value"] < row["intervals"]["80"]["upper"]
    out = tmp_path / "f.csv"
    written = runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "CCC,AAA", "--out", str(out)])
    assert written.exit_code == 0, written.output
    lines = out.read_text().splitlines()
    assert lines[0] == "series,step,date,Close" and [line[:5] for line in lines[1:4:2]] == ["CCC,1", "AAA,1"]
    assert is_forecast_csv(out)
    again = runner.invoke(app, ["predict", str(tmp_path / "run"), "--out", str(out), "--force"])
    assert again.exit_code == 0, again.output  # recognised as a forecast lstmcast wrote, so --force replaces it
    for args, words in ((["dump-states", str(tmp_path / "run"), "--series", "ZZZ"], "not a series of this panel run"),
                        (["dump-states", str(tmp_path / "run"), "--series", "AAA,AAA"], "AAA twice"),
                        (["predict", str(tmp_path / "run"), "--series", "CCC,CCC"], "CCC twice")):
        refused = runner.invoke(app, args)
        assert refused.exit_code != 0 and words in refused.output and "Traceback" not in refused.output


def test_dump_states_records_one_series_of_a_panel_as_the_model_saw_it(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    _train(runner, _config(tmp_path / "c.yaml", csv, static_covariates=["series"]), tmp_path / "run")
    dump = runner.invoke(app, ["dump-states", str(tmp_path / "run"), "--series", "CCC", "--gates", "--json",
                               "--out", str(tmp_path / "d.npz")])
    assert dump.exit_code == 0, dump.output
    meta = json.loads(dump.stdout)["meta"]
    assert meta["series"] == ["CCC"] and meta["self_check"]["max_abs_error"] < 1e-5
    forecast = runner.invoke(app, ["predict", str(tmp_path / "run"), "--series", "CCC", "--json"])
    values = [row["value"] for row in json.loads(forecast.stdout)["forecasts"][0]["forecast"]]
    with np.load(tmp_path / "d.npz") as arrays:  # the last window's forecast is predict's, in prices
        np.testing.assert_allclose(arrays["prediction"][-1], values, rtol=1e-6)


def test_pooled_metrics_are_scale_free_means():
    per_series = {"A": {"model": {"mase": 1.0, "rel_mae": 0.5, "rel_rmse": 0.8, "smape": 2.0, "mape": 2.0,
                                  "directional_accuracy": 50.0}},
                  "B": {"model": {"mase": 3.0, "rel_mae": 2.0, "rel_rmse": 1.25, "smape": 4.0, "mape": None,
                                  "directional_accuracy": 60.0}}}
    pooled = pooled_metrics(per_series)["model"]
    assert pooled["mase"] == 2.0 and pooled["rel_mae"] == pytest.approx(1.0) and pooled["skill"] == pytest.approx(0)
    assert pooled["mape"] == 2.0 and pooled["directional_accuracy"] == 55.0 and pooled["mae"] is None


def test_the_pooled_test_of_one_series_is_its_own_test_on_scaled_losses():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=(80, 2))
    forecasts = {"model": actual + rng.normal(0, 1.0, actual.shape), "random_walk": actual + rng.normal(0, 1.2,
                                                                                                        actual.shape)}
    history = rng.normal(size=50).cumsum()
    losses = scaled_losses(forecasts, actual, pd.bdate_range("2020-01-01", periods=80), history)
    pooled = pooled_diebold_mariano({"A": losses}, "model", "random_walk", lags=1)
    direct = diebold_mariano(((forecasts["model"] - actual) ** 2).mean(1), ((forecasts["random_walk"] - actual)
                                                                              ** 2).mean(1), lags=1)
    assert pooled["p_value"] == pytest.approx(direct["p_value"], rel=1e-9) and pooled["series"] == 1


def test_one_dump_holds_every_series_with_a_series_index_in_every_format(runner, tmp_path):
    """Windows of all series end to end, each marked with its series; each series' part equals its own dump. Stream
    mode restarts the state at each series' first row; parquet and LSTMVis carry the series too."""
    csv = _long(tmp_path / "long.csv", _panel_frame())
    run = tmp_path / "run"
    _train(runner, _config(tmp_path / "c.yaml", csv, static_covariates=["series"]), run)

    def dump(out: Path, *args: str) -> dict:
        result = runner.invoke(app, ["dump-states", str(run), "--json", "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["meta"]

    meta = dump(tmp_path / "all.npz", "--from", "2016-01-04")
    assert meta["series"] == ["AAA", "BBB", "CCC"] and meta["self_check"]["max_abs_error"] < 1e-5
    alone = dump(tmp_path / "ccc.npz", "--from", "2016-01-04", "--series", "CCC")
    with np.load(tmp_path / "all.npz") as both, np.load(tmp_path / "ccc.npz") as one:
        counts = np.bincount(both["series"], minlength=3)
        assert counts.tolist() == [meta["series_counts"][name] for name in meta["series"]]
        ccc = both["series"] == 2
        assert ccc.sum() == alone["windows"] and np.all(np.diff(both["series"]) >= 0)
        for name in ("h", "c", "prediction", "origin_date"):
            np.testing.assert_array_equal(both[name][ccc], one[name])
    stream = dump(tmp_path / "stream.parquet", "--mode", "stream", "--series", "BBB,AAA")
    frame = pd.read_parquet(tmp_path / "stream.parquet")
    assert stream["series"] == ["BBB", "AAA"] and list(frame.series.unique()) == ["BBB", "AAA"]
    assert (frame.series == "AAA").sum() > 0 and stream["self_check"]["max_abs_error"] < 1e-5
    dump(tmp_path / "vis", "--mode", "stream", "--format", "lstmvis")
    import h5py

    with h5py.File(tmp_path / "vis" / "series.h5", "r") as handle:
        ids = handle["series_ids"][()]
    assert set(ids.tolist()) == {1, 2, 3} and np.all(np.diff(ids) >= 0)
    assert (tmp_path / "vis" / "series.dict").read_text().split() == ["AAA", "1", "BBB", "2", "CCC", "3"]
    assert yaml.safe_load((tmp_path / "vis" / "lstm.yml").read_text())["meta"]["series"]["path"] == "series_ids"


def test_a_dump_leaves_out_a_series_with_nothing_in_range_and_keeps_the_index_right(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    _train(runner, _config(tmp_path / "c.yaml", csv), tmp_path / "run")
    result = runner.invoke(app, ["dump-states", str(tmp_path / "run"), "--to", "2015-02-05", "--json",
                                 "--out", str(tmp_path / "d.parquet")])  # AAA and CCC start later
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["meta"]
    assert meta["series"] == ["BBB"] and "left out of the dump" in result.stderr
    assert set(pd.read_parquet(tmp_path / "d.parquet").series) == {"BBB"}


def test_dates_that_only_a_format_guess_can_read_are_read_series_by_series(tmp_path):
    """A's dates read day-first or month-first alike; B's only month-first: A is asked for its format, not guessed
    from B's (as if each series were its own file)."""
    rows = [("A", f"01/0{m}/2018", 1.0 + m) for m in (1, 2, 3)] + [("B", f"01/{d}/2018", 2.0 + d) for d in (13, 14, 15)]
    csv = tmp_path / "mixed.csv"
    csv.write_text("Ticker,Date,Close\n" + "".join(f"{t},{d},{v}\n" for t, d, v in rows))
    with pytest.raises(DataError, match=r"\(series A\): column 'Date': dates such as '01/01/2018' read both"):
        load_panel(_data(csv))
