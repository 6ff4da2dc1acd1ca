"""Plots read by their layout numbers: axis ranges, tick values, panel extents (and the PNG stamp), not by pixels."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from lstmcast.cli import app
from lstmcast.outputs import plots
from lstmcast.outputs.plots.scores import HOPELESS

DATES = pd.bdate_range("2014-01-01", periods=700)
PRICE = 30 + np.cumsum(np.random.default_rng(0).normal(0, 0.5, len(DATES)))


def day(value) -> pd.Timestamp:
    """A date from an axis limit (days since matplotlib's epoch) or from a line's data (a date already)."""
    if isinstance(value, (int, float, np.floating)):
        return pd.Timestamp(mdates.num2date(value)).tz_localize(None)
    return pd.Timestamp(value)


def texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def test_loss_curves_tick_whole_epochs_and_label_the_log_axis_with_plain_numbers(tmp_path):
    epochs = list(range(1, 31))
    fig = plots.loss_curves(tmp_path / "loss.png", epochs, list(np.geomspace(1, 0.01, 30)),
                            list(np.geomspace(1.2, 0.03, 30)), best_epoch=28, title="loss")
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert all(float(t).is_integer() for t in ax.get_xticks() if low <= t <= high)
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 3 and all(float(label) > 0 for label in labels)  # '0.01', '0.1', '1': no mathtext
    assert plots.is_plot(tmp_path / "loss.png")


def test_loss_curves_within_a_factor_of_three_use_a_linear_axis_with_labels(tmp_path):
    fig = plots.loss_curves(tmp_path / "loss.png", [1, 2, 3], [0.96, 0.95, 0.949], [0.66, 0.66, 0.655],
                            best_epoch=3, title="loss")
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert [t for t in ax.get_xticks() if 1 <= t <= 3] == [1, 2, 3]
    assert all("$" not in t.get_text() for t in ax.get_yticklabels())


RMSE = {"run": [1.0, 1.5, 1.9], "random_walk": [1.05, 1.55, 1.95], "drift": [1.04, 1.56, 1.9],
        "seasonal_naive": [1.5, 1.7, 2.0], "historical_mean": [52.0, 52.1, 52.2], "ets": [1.06, None, 1.95]}


def test_error_by_step_is_relative_to_the_random_walk_and_leaves_hopeless_baselines_out(tmp_path):
    fig = plots.error_by_step(tmp_path / "e.png", RMSE, target="Close", reference="random_walk",
                              baselines=["random_walk", "drift", "seasonal_naive", "historical_mean", "ets"])
    ax = fig.axes[0]
    drawn = {line.get_label(): line for line in ax.get_lines()}
    assert set(drawn) == {"random walk (= 1)", "run", "drift", "seasonal_naive", "ets"}
    np.testing.assert_allclose(drawn["run"].get_ydata(), np.array(RMSE["run"]) / RMSE["random_walk"])
    assert np.isnan(drawn["ets"].get_ydata()[1])  # a missing value is a gap, not a zero
    low, high = ax.get_ylim()
    assert 0.8 < low < 1 and 1.43 < high < 1.6  # the relative errors set the axis, not the mean's 52
    assert drawn["run"].get_linestyle() == "-" and drawn["drift"].get_linestyle() == "--"
    assert "not drawn" in texts(fig) and "historical_mean" in texts(fig) and "Close" in ax.get_title()
    note = next(t for t in fig.findobj(lambda a: hasattr(a, "get_text")) if "not drawn" in t.get_text())
    box = note.get_window_extent()
    assert box.y0 >= 0 and box.x1 <= fig.bbox.width  # the note lies inside the picture


def test_error_by_step_always_draws_a_model_however_bad(tmp_path):
    rmse = {**RMSE, "run": [9.0, 9.0, 9.0]}
    fig = plots.error_by_step(tmp_path / "e.png", rmse, target="Close", baselines=["historical_mean"])
    drawn = {line.get_label() for line in fig.axes[0].get_lines()}
    assert "run" in drawn and "historical_mean" not in drawn and fig.axes[0].get_ylim()[1] > HOPELESS
    plain = plots.error_by_step(tmp_path / "f.png", rmse, target="Close")  # no baselines named: all are drawn
    assert "not drawn" not in texts(plain) and len(plain.axes[0].get_lines()) == 6


def forecast_figure(tmp_path, test: int = 500, window: int = 120):
    dates, actual = DATES[-test:], PRICE[-test:]
    rw = PRICE[-test - 1:-1]
    model = rw + 0.5 * (actual - rw)
    context = slice(len(DATES) - 2 * test, len(DATES) - test + 1)
    fig = plots.forecast_vs_actual(tmp_path / "f.png", dates, actual, {"LSTM": model, "random walk": rw},
                                   context_dates=DATES[context], context=PRICE[context], title="MSFT: Close (USD)",
                                   ylabel="Close", reference="random walk", window=window)
    return fig, dates, actual, model, rw


def test_forecast_vs_actual_shows_a_recent_window_over_an_overview_and_the_error_against_the_random_walk(tmp_path):
    fig, dates, actual, model, rw = forecast_figure(tmp_path)
    main, overview, error = fig.axes
    low, high = map(day, main.get_xlim())
    assert dates[-121] < low <= dates[-120] and dates[-1] <= high < dates[-1] + pd.Timedelta(days=7)
    assert all(len(line.get_xdata()) == 120 for line in main.get_lines())
    visible = np.concatenate([actual[-120:], model[-120:], rw[-120:]])
    bottom, top = main.get_ylim()
    assert bottom <= visible.min() and top >= visible.max() and top - bottom < 1.3 * np.ptp(visible)
    assert day(overview.get_xlim()[0]) <= DATES[len(DATES) - 1000]  # the full period, history included
    shaded = [p for p in overview.patches if p.get_label() == "shown above"]
    assert len(shaded) == 1 and day(shaded[0].get_x()) == dates[-120]
    (cumulative,) = [line for line in error.get_lines() if line.get_label() == "LSTM"]
    np.testing.assert_allclose(cumulative.get_ydata()[-1], ((model - actual) ** 2 - (rw - actual) ** 2).sum())
    assert cumulative.get_ydata()[-1] < 0 and "random walk" in error.get_title(loc="left")
    assert fig.texts[0].get_text() == "MSFT: Close (USD)" and main.get_ylabel() == "Close"
    assert plots.is_plot(tmp_path / "f.png")


def test_forecast_vs_actual_with_a_short_test_period_shows_all_of_it(tmp_path):
    fig, dates, *_ = forecast_figure(tmp_path, test=40)
    low, high = map(day, fig.axes[0].get_xlim())
    assert low < dates[0] and high >= dates[-1]


def test_forecast_with_history_shows_the_recent_history_and_the_dated_forecast(tmp_path):
    future = pd.bdate_range(DATES[-1] + pd.Timedelta(days=1), periods=5)
    forecast = PRICE[-1] + np.arange(1, 6)
    fig = plots.forecast_with_history(tmp_path / "p.png", history_dates=DATES, history=PRICE, forecast_dates=future,
                                      forecast=forecast, target="Close", title="Close: 5 steps after",
                                      actual=[PRICE[-1], None, None, None, None])
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert day(lines["Close (data)"].get_xdata()[0]) == DATES[-60]  # max(60, 3 x 5) observations
    joined = lines["forecast"]
    assert joined.get_ydata()[0] == PRICE[-1] and list(joined.get_ydata()[1:]) == list(forecast)
    assert list(lines[f"last data {DATES[-1].date()}"].get_xdata()) == [DATES[-1]] * 2
    assert np.isnan(lines["actual"].get_ydata()[1:]).all() and ax.get_ylabel() == "Close"
    assert day(ax.get_xlim()[1]) >= future[-1] and ax.get_title() == "Close: 5 steps after"
    long = plots.forecast_with_history(tmp_path / "q.png", history_dates=DATES, history=PRICE,
                                       forecast_dates=pd.bdate_range(future[0], periods=30),
                                       forecast=np.full(30, PRICE[-1]), target="Close", title="t")
    assert day(long.axes[0].get_lines()[0].get_xdata()[0]) == DATES[-90]


def states_figure(tmp_path, *, gates: bool):
    rng = np.random.default_rng(1)
    n, layers, units = 300, 2, 5
    dates = DATES[-n:].to_numpy()
    kwargs = dict(dates=dates, prediction=PRICE[-n:], actual=PRICE[-n:], h=rng.normal(size=(n, layers, 3)),
                  c=rng.normal(size=(n, layers, units)), history_dates=DATES, history=PRICE, target="Close",
                  caption="many_to_one on Close")
    if gates:
        kwargs["gates"] = {"f": rng.uniform(size=(n, layers, units)), "i": rng.uniform(size=(n, layers, units))}
    return plots.states_overview(tmp_path / "s.png", **kwargs)


@pytest.mark.parametrize("gates", [False, True])
def test_states_overview_lines_up_the_price_and_every_heatmap_on_one_time_axis(tmp_path, gates):
    fig = states_figure(tmp_path, gates=gates)
    panels = [ax for ax in fig.axes if ax.get_subplotspec().colspan.start == 0]
    colorbars = [ax for ax in fig.axes if ax.get_subplotspec().colspan.start == 1]
    heatmaps = [ax for ax in panels if ax.images]
    assert len(heatmaps) == len(colorbars) == (6 if gates else 4)
    extents = {(round(ax.get_position().x0, 6), round(ax.get_position().x1, 6)) for ax in panels}
    assert len(extents) == 1  # same left and right edge in figure coordinates: dates line up
    assert len({ax.get_xlim() for ax in panels}) == 1
    price = panels[0]
    assert not price.images and price.get_ylabel() == "Close"
    forget = [ax for ax in heatmaps if "forget" in ax.get_ylabel()]
    assert len(forget) == (2 if gates else 0)
    if gates:
        means = panels[-1]
        assert not means.images and means.get_ylim() == (0, 1)
        assert {line.get_label() for line in means.get_lines()} == {
            "layer 0 forget", "layer 0 input", "layer 1 forget", "layer 1 input"}
        assert forget[0].images[0].get_clim() == (0, 1)
    assert plots.is_plot(tmp_path / "s.png")


def test_dump_states_plot_draws_the_gates_it_recorded(runner, trained_runs, tmp_path, monkeypatch):
    import lstmcast.outputs.plots.states as drawing
    import lstmcast.workflows.dump as dump

    drawn = {}

    def spy(path, **kwargs):
        drawn.update(kwargs)
        drawn["figure"] = real(path, **kwargs)
        return drawn["figure"]

    real = plots.states_overview
    monkeypatch.setattr(drawing, "states_overview", spy)
    monkeypatch.setattr(dump, "PLOT_POINTS", 100)
    result = runner.invoke(app, ["dump-states", str(trained_runs["many_to_one"]), "--gates", "--out",
                                 str(tmp_path / "d.npz"), "--plot", str(tmp_path / "s.png"), "--chunk-size", "64"])
    assert result.exit_code == 0, result.output
    n = len(drawn["dates"])
    assert 0 < n <= 100 and drawn["h"].shape == (n, 2, 3) and drawn["c"].shape == (n, 2, 6)
    assert set(drawn["gates"]) == {"f", "i"} and drawn["gates"]["f"].shape == (n, 2, 6)
    assert ((drawn["gates"]["f"] > 0) & (drawn["gates"]["f"] < 1)).all()
    assert any("forget" in ax.get_ylabel() for ax in drawn["figure"].axes)
    assert plots.is_plot(tmp_path / "s.png")
