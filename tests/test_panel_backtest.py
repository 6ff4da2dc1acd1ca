"""Issue 13: walk-forward backtests of panels. A global model against each series' baselines and against the same
config trained on each series alone, per series and pooled; no look-ahead across series or refits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lstmcast.cli import app
from test_panel import _config, _long, _panel_frame


def _backtest(runner, *args: str) -> dict:
    result = runner.invoke(app, ["backtest", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_global_model_meets_one_model_per_series_on_every_series_and_pooled(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    config = _config(tmp_path / "c.yaml", csv)
    out = tmp_path / "report"
    report = _backtest(runner, str(config), "--from", "2016-01-04", "--per-series", "--out", str(out))
    assert report["models"] == ["c", "c per series"] and list(report["series"]) == ["AAA", "BBB", "CCC"]
    for entry in report["series"].values():
        assert {"c", "c per series", "random_walk", "drift", "ets"} <= set(entry["overall"])
        assert "c vs random_walk" in entry["diebold_mariano"]
    tests = report["pooled_tests"]
    assert {"c vs random_walk", "c vs drift", "c vs c per series"} <= set(tests)
    assert 0 <= tests["c vs c per series"]["p_value"] <= 1 and tests["c vs c per series"]["series"] == 3
    skills = [entry["overall"]["c"]["rel_rmse"] for entry in report["series"].values()]
    assert report["pooled"]["c"]["rel_rmse"] == pytest.approx(np.exp(np.mean(np.log(skills))))
    frame = pd.read_csv(out / "forecasts.csv")
    assert list(frame.columns[:5]) == ["series", "origin", "step", "date", "actual"]
    assert set(frame.series) == {"AAA", "BBB", "CCC"} and (out / "skill.png").is_file()
    assert set(pd.read_csv(out / "metrics.csv").series) == {"pooled", "AAA", "BBB", "CCC"}
    table = runner.invoke(app, ["backtest", str(config), "--from", "2016-01-04"])
    assert table.exit_code == 0 and "Pooled over 3 series" in table.output and "c on each series" in table.output


def test_the_per_series_model_is_the_single_series_backtest_of_that_series(runner, tmp_path):
    """A one-series panel trains as the single series does, so the per-series competitor's forecasts for AAA are
    those of a plain backtest of the same config on AAA alone."""
    csv = _long(tmp_path / "long.csv", _panel_frame())
    panel = _backtest(runner, str(_config(tmp_path / "c.yaml", csv)), "--from", "2016-01-04", "--per-series",
                      "--out", str(tmp_path / "p"))
    single = _backtest(runner, str(_config(tmp_path / "s.yaml", csv, series="AAA")), "--from", "2016-01-04",
                       "--out", str(tmp_path / "s"))
    ours = pd.read_csv(tmp_path / "p" / "forecasts.csv").query("series == 'AAA'")
    theirs = pd.read_csv(tmp_path / "s" / "forecasts.csv")
    assert single["first_origin"] == ours.origin.iloc[0] and len(theirs) == len(ours)
    np.testing.assert_allclose(ours["c per series"].to_numpy(), theirs["s"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours["random_walk"].to_numpy(), theirs["random_walk"].to_numpy())
    assert panel["series"]["AAA"]["overall"]["random_walk"] == pytest.approx(single["overall"]["random_walk"])


def test_refits_see_no_series_future_beyond_their_origin(runner, tmp_path):
    """Prices of BBB multiplied after a date change no forecast of any series at an origin before it."""
    csv = _long(tmp_path / "long.csv", _panel_frame())
    shifted = _long(tmp_path / "shifted.csv", _panel_frame(shift={"BBB": (320, 1.5)}))
    after = pd.bdate_range("2015-01-01", periods=420)[320]
    frames = []
    for name, path in (("a", csv), ("b", shifted)):
        _backtest(runner, str(_config(tmp_path / f"{name}.yaml", path)), "--from", "2016-01-04", "--refit", "40",
                  "--out", str(tmp_path / name))
        frames.append(pd.read_csv(tmp_path / name / "forecasts.csv", parse_dates=["origin"]))
    before = [frame[frame.origin < after] for frame in frames]
    assert len(before[0]) > 100
    np.testing.assert_array_equal(before[0]["a"].to_numpy(), before[1]["b"].to_numpy())
    later = [frame[frame.origin >= after] for frame in frames]
    assert not np.allclose(later[0]["a"].to_numpy(), later[1]["b"].to_numpy())


def test_a_series_with_no_history_at_the_first_origin_is_left_out_with_the_reason(runner, tmp_path):
    frame = _panel_frame()
    late = frame[frame.Ticker == "AAA"].tail(30).assign(Ticker="NEW")  # starts after the first origin
    csv = _long(tmp_path / "long.csv", pd.concat([frame, late]))
    result = runner.invoke(app, ["backtest", str(_config(tmp_path / "c.yaml", csv)), "--from", "2016-01-04",
                                 "--per-series", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["series"]) == ["AAA", "BBB", "CCC"] and "too short to train on" in report["skipped"]["NEW"]


def test_models_with_other_lookbacks_and_series_lists_meet_on_what_they_share(runner, tmp_path):
    """Origins where every model has a full window; series only some panels hold are left out with the reason."""
    csv = _long(tmp_path / "long.csv", _panel_frame())
    wide = _config(tmp_path / "a.yaml", csv)
    narrow = _config(tmp_path / "b.yaml", csv, series=["AAA", "BBB"], lookback=40)
    report = _backtest(runner, str(wide), str(narrow), "--origins", "20")
    assert list(report["series"]) == ["AAA", "BBB"] and "not in every source" in report["skipped"]["CCC"]
    assert all(entry["origins"] == 20 for entry in report["series"].values())


def test_a_series_listed_days_before_the_end_does_not_break_refits(runner, tmp_path):
    frame = _panel_frame()
    late = frame[frame.Ticker == "AAA"].tail(4).assign(Ticker="NEW")  # one row left after its first log return
    csv = _long(tmp_path / "long.csv", pd.concat([frame, late]))
    report = _backtest(runner, str(_config(tmp_path / "c.yaml", csv)), "--origins", "3", "--refit", "1",
                       "--per-series")
    assert "NEW" not in report["series"] and len(report["series"]) == 3


def test_a_panel_run_refit_on_all_data_is_not_scored_on_targets_it_has_seen(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    config = _config(tmp_path / "c.yaml", csv)
    trained = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--final"])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["backtest", str(tmp_path / "run"), "--from", "2016-01-04"])
    assert result.exit_code != 0 and "training.final" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_panel_backtests_refuse_what_they_cannot_do(runner, tmp_path):
    csv = _long(tmp_path / "long.csv", _panel_frame())
    panel, single = _config(tmp_path / "c.yaml", csv), _config(tmp_path / "s.yaml", csv, series="AAA")
    for args, words in (([str(panel), str(single)], "some sources are panels"),
                        ([str(panel), "--levels", "80"], "not built for panels yet"),
                        ([str(single), "--per-series"], "these sources are single series")):
        result = runner.invoke(app, ["backtest", *args])
        assert result.exit_code != 0 and words in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
