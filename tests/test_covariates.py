"""Issue 13, covariates: calendar features known ahead (aligned with the dates they describe, read by the seq2seq
decoder step by step), static covariates of a panel (the series id and a sector, each a learned embedding), and the
refusals that keep them honest."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lstmcast.cli import app
from lstmcast.config import build_config
from lstmcast.data.calendar import Calendar
from lstmcast.data.covariates import lead_columns
from lstmcast.data.reading import load_series_for
from lstmcast.data.windows import prepare
from lstmcast.models.inputs import InputLayout
from lstmcast.models.lstm import build_model

ALL = ["day_of_week", "month", "days_to_month_end", "holiday"]
SECTORS = {"AAA": "Tech", "BBB": "Energy", "CCC": "Tech"}


def _prices(path: Path, sessions: pd.DatetimeIndex, *, sector: bool = False, ids=("AAA", "BBB", "CCC")) -> Path:
    rng = np.random.default_rng(3)
    parts = []
    for name in ids:
        frame = pd.DataFrame({"Ticker": name, "Date": sessions.strftime("%Y-%m-%d"),
                              "Close": 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))})
        if sector:
            frame["Sector"] = SECTORS.get(name, "Utilities")
        parts.append(frame)
    pd.concat(parts).to_csv(path, index=False, float_format="%.10g")
    return path


def _xnys(start: str, end: str) -> pd.DatetimeIndex:
    """New York's sessions, straight from exchange_calendars (the independent side of these tests)."""
    with warnings.catch_warnings():  # exchange_calendars trips a pandas 3.1 deprecation, as in lstmcast.data.calendar
        warnings.simplefilter("ignore", DeprecationWarning)
        return pd.DatetimeIndex(xcals.get_calendar("XNYS", start=start, end=end).sessions)


def _sessions(count: int = 330) -> pd.DatetimeIndex:
    return _xnys("2019-01-02", "2021-12-31")[:count]


def _config(path: Path, csv: Path, kind: str = "seq2seq", model: dict | None = None, **data) -> Path:
    config = {"data": {"path": str(csv), "target": "Close", "lookback": 12, "horizon": 3, "calendar": "XNYS",
                       "series_column": "Ticker", **data},
              "model": {"kind": kind, "hidden_size": 6, "num_layers": 1, **(model or {})},
              "training": {"epochs": 2, "batch_size": 64, "seed": 0, "threads": 1}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_future_covariate_at_step_t_plus_k_is_the_calendars_value_for_that_date(tmp_path):
    """Each window's last row carries the features of the dates it forecasts, equal to an independent computation
    from the exchange's sessions; past the data's last row, of the calendar's next sessions."""
    csv = _prices(tmp_path / "p.csv", _sessions())
    data = build_config(yaml.safe_load(_config(tmp_path / "c.yaml", csv, series="AAA",
                                               future_covariates=ALL).read_text()), source="t").data
    series = load_series_for(data)
    prepared = prepare(series, data, calendar=Calendar("B", "XNYS"))
    names = list(prepared.covariates)
    assert names == lead_columns(data) and len(names) == 7 * (data.horizon + 1)
    sessions = _xnys("2018-12-01", "2021-12-31")
    following = sessions[sessions > prepared.dates[-1]][: data.horizon]
    dates = prepared.dates.append(following)
    values = prepared.scaled[:, len(prepared.columns):]
    for row in (0, 57, len(prepared.dates) - 1):
        for k in range(data.horizon + 1):
            date = dates[row + k]
            suffix = "@t" if k == 0 else f"@t+{k}"

            def cell(name):
                return values[row, names.index(name + suffix)]

            assert cell("day_of_week_sin") == pytest.approx(np.sin(2 * np.pi * date.day_of_week / 7), abs=1e-6)
            assert cell("month_cos") == pytest.approx(np.cos(2 * np.pi * (date.month - 1) / 12), abs=1e-6)
            left = ((sessions > date) & (sessions.month == date.month) & (sessions.year == date.year)).sum()
            assert cell("days_to_month_end") == pytest.approx(left / 31, abs=1e-6)
            weekdays = pd.bdate_range(date + pd.Timedelta(days=1), sessions[sessions > date][0], inclusive="left")
            assert cell("holiday_before") == float(len(weekdays) > 0)


def test_holiday_flags_mark_the_sessions_around_a_closed_weekday():
    from lstmcast.data.covariates import calendar_features

    dates = pd.DatetimeIndex(["2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27"])  # Christmas Day closed
    after, before = calendar_features(dates, ["holiday"], "XNYS").T
    assert before.tolist() == [0, 1, 0, 0] and after.tolist() == [0, 0, 1, 0]


def test_the_decoder_reads_each_steps_calendar_and_the_static_embeddings():
    layout = InputLayout(plain=1 + 2 * 4, known=2, categories=(3,), embedding=2)  # horizon 3: t, t+1, t+2, t+3
    config = build_config({"data": {"path": "x.csv", "target": "y", "horizon": 3},
                           "model": {"kind": "seq2seq", "hidden_size": 4, "num_layers": 1}}, source="t").model
    model = build_model(config, layout=layout, horizon=3).eval()
    x = torch.randn(5, 6, 10)
    x[:, :, 9] = torch.tensor([0.0, 2.0, 1.0, 2.0, 0.0])[:, None]  # each window's series code
    extra = model.inputs.decoder(x[:, -1], 3)
    for k in range(3):  # step k+1's calendar sits at columns 1 + 2 (k + 1) .. 1 + 2 (k + 2)
        torch.testing.assert_close(extra[:, k, :2], x[:, -1, 3 + 2 * k : 5 + 2 * k])
        torch.testing.assert_close(extra[:, k, 2:], model.inputs.embeddings[0].weight[x[:, -1, 9].long()])
    assert model.decoder.input_size == 1 + 2 + 2 and model.encoder.input_size == 9 + 2
    with pytest.raises(ValueError, match="3 steps ahead"):
        model.inputs.decoder(x[:, -1], 4)


@pytest.mark.parametrize("kind", ["seq2seq", "many_to_one"])
def test_a_model_with_calendar_covariates_trains_predicts_and_dumps_exact_states(runner, tmp_path, kind):
    csv = _prices(tmp_path / "p.csv", _sessions())
    config = _config(tmp_path / "c.yaml", csv, kind=kind, series="AAA", future_covariates=ALL)
    trained = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["columns"] == ["Close"] and meta["format_version"] == 4
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json", "--levels", "80"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["forecast"]) == 3
    longer = runner.invoke(app, ["predict", str(tmp_path / "run"), "--horizon", "5"])
    assert longer.exit_code != 0 and "calendar" in longer.output and "Traceback" not in longer.output
    for mode in ("windows", "stream"):  # every recorded state checked against the model's own fused call
        dump = runner.invoke(app, ["dump-states", str(tmp_path / "run"), "--gates", "--json", "--mode", mode,
                                   "--out", str(tmp_path / f"{mode}.npz")])
        assert dump.exit_code == 0, dump.output
        check = json.loads(dump.stdout)["meta"]["self_check"]
        assert check["max_abs_error"] < 1e-5 and "gates_explain_states" in check, check


def test_a_panel_learns_an_embedding_per_series_and_per_sector(runner, tmp_path):
    csv = _prices(tmp_path / "p.csv", _sessions(), sector=True)
    config = _config(tmp_path / "c.yaml", csv, series="all", static_covariates=["series", "Sector"],
                     future_covariates=["day_of_week"], model={"embedding_size": 3})
    trained = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["panel"]["statics"] == {"series": ["AAA", "BBB", "CCC"], "Sector": ["Energy", "Tech"]}
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "run" / "model.safetensors")
    assert weights["inputs.embeddings.0.weight"].shape == (3, 3) and weights["inputs.embeddings.1.weight"].shape == (2, 3)
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    assert [f["series"] for f in json.loads(result.stdout)["forecasts"]] == ["AAA", "BBB", "CCC"]
    frame = pd.read_csv(csv)
    frame.loc[frame.Ticker == "BBB", "Sector"] = "Mining"  # a sector the model never saw
    frame.to_csv(tmp_path / "new.csv", index=False)
    refused = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "new.csv")])
    assert refused.exit_code != 0 and "Mining" in refused.output and "no learned embedding" in refused.output


def test_a_static_covariate_that_changes_within_a_series_is_refused_with_its_lines(runner, tmp_path):
    csv = _prices(tmp_path / "p.csv", _sessions(), sector=True)
    frame = pd.read_csv(csv)
    frame.loc[frame.index[frame.Ticker == "CCC"][40], "Sector"] = "Energy"
    frame.to_csv(csv, index=False)
    config = _config(tmp_path / "c.yaml", csv, series="all", static_covariates=["Sector"])
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "series CCC" in text and "'Tech' (line" in text and "'Energy' (line" in text


@pytest.mark.parametrize("data, message", [
    ({"future_covariates": ["holiday"], "calendar": None}, "set data.calendar"),
    ({"future_covariates": ["month", "month"]}, "twice"),
    ({"future_covariates": ["weather"]}, "future_covariates"),
    ({"static_covariates": ["series"]}, "single series"),
    ({"static_covariates": ["Sector"], "series": None, "layout": "wide", "series_column": None}, "wide"),
    ({"static_covariates": ["Close"], "series": "all"}, "column of its own"),
])
def test_impossible_covariates_are_refused(tmp_path, data, message):
    from lstmcast.errors import ConfigError

    raw = {"path": "x.csv", "target": "Close", "series_column": "Ticker", "series": "AAA", "calendar": "XNYS", **data}
    if raw.get("layout") == "wide":
        raw["series"] = "all"
    with pytest.raises(ConfigError, match=message):
        build_config({"data": {k: v for k, v in raw.items() if v is not None}, "model": {"kind": "seq2seq"}},
                     source="test")
