"""The result tables as a person reads them in an 80-column terminal: nothing cut, the best marked, decimals steady."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

from rich.console import Console

from lstmcast.cli.render import dm_table, forecast_table, scores_table

# a backtest's overall scores with a hopeless baseline (the numbers of issue 16's leaderboard)
ROWS = {
    "msft_many_to_one": {"skill": 0.0458, "rel_mae": 0.956, "mae": 0.7531, "rmse": 1.086, "mase": 1.910,
                         "directional_accuracy": 63.3, "dm_rw": 0.095},
    "random_walk": {"skill": 0.0, "rel_mae": 1.0, "mae": 0.7881, "rmse": 1.138, "mase": 1.990,
                    "directional_accuracy": None, "dm_rw": None},
    "drift": {"skill": 0.008, "rel_mae": 0.991, "mae": 0.7811, "rmse": 1.129, "mase": 1.974,
              "directional_accuracy": 63.0, "dm_rw": 0.024},
    "seasonal_naive": {"skill": -0.298, "rel_mae": 1.399, "mae": 1.1028, "rmse": 1.477, "mase": 3.042,
                       "directional_accuracy": 46.3, "dm_rw": 0.0012},
    "historical_mean": {"skill": -44.823, "rel_mae": 65.848, "mae": 51.8932, "rmse": 52.135, "mase": 142.793,
                        "directional_accuracy": 37.0, "dm_rw": 1e-9},
    "ets": {"skill": -0.0005, "rel_mae": 1.001, "mae": 0.7888, "rmse": 1.138, "mase": 1.992,
            "directional_accuracy": 48.0, "dm_rw": 0.735},
}


def rendered(table, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text().splitlines()


def leaderboard(rows=ROWS) -> list[str]:
    return rendered(scores_table("Walk-forward leaderboard (200 origins, horizon 5; * best)", rows,
                                 extra=[("dm_rw", "DM p RW")], caption="skill: 1 - RMSE/RMSE(random walk)"))


def row(lines: list[str], name: str) -> list[str]:
    """The cells of the body row `name` (below the rule under the headers)."""
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("───")) + 1:]
    (line,) = [line for line in body if line.startswith(name + " ")]
    return line[len(name):].split()


def test_the_leaderboard_fits_80_columns_with_every_digit_and_the_best_marked():
    lines = leaderboard()
    assert max(map(len, lines)) <= 80 and not any("…" in line or "..." in line for line in lines)
    header = next(line for line in lines if line.startswith("model"))
    for name in ("skill %", "MAE/RW", "MAE", "RMSE", "MASE", "dir. %", "DM p RW"):
        assert name in header
    assert row(lines, "msft_many_to_one") == ["+4.6*", "0.956*", "0.753*", "1.09*", "1.91*", "63.3*", "0.095"]
    assert row(lines, "random walk") == ["+0.0", "1.000", "0.788", "1.14", "1.99", "—", "—"]
    assert row(lines, "hist. mean") == ["-4482.3", "65.848", "51.893", "52.13", "142.79", "37.0", "<0.001"]


def test_a_column_keeps_its_decimals_and_its_decimal_points_line_up():
    lines = [line for line in leaderboard() if re.match(r"^(msft|random|drift|seasonal|hist|ETS)", line)]
    assert len(lines) == 6
    for column in range(1, 6):  # skill .. MASE: one number of decimals each, points in one place
        cells = [re.findall(r"\S+", line[16:])[column - 1] for line in lines]
        assert len({len(cell.rstrip("*").split(".")[1]) for cell in cells}) == 1, cells
        points = {line.index(cell) + cell.index(".") for line, cell in zip(lines, cells)}
        assert len(points) == 1, cells


def test_a_tie_at_one_keeps_its_decimals_and_its_marker():
    rows = {"model": {**ROWS["msft_many_to_one"], "rel_mae": 1.0}, "random_walk": ROWS["random_walk"],
            "drift": {**ROWS["drift"], "rel_mae": 1.2}}
    lines = leaderboard(rows)
    assert row(lines, "model")[1] == "1.000*" and row(lines, "random walk")[1] == "1.000*"


def test_the_train_table_fits_80_columns():
    rows = {name: {**ROWS[key], "dm_p_value": ROWS[key]["dm_rw"]} for name, key in
            (("model", "msft_many_to_one"), ("random_walk", "random_walk"), ("drift", "drift"))}
    lines = rendered(scores_table("Test targets 2013-02-13 .. 2017-11-10 (Close, original units)", rows,
                                  extra=[("dm_p_value", "DM p")]))
    assert max(map(len, lines)) <= 80 and row(lines, "model")[0] == "+4.6*"


def test_the_diebold_mariano_table_lists_forecasters_down_and_fits_80_columns():
    names = list(ROWS)
    models = ["msft_many_to_one", "msft_seq2seq_with_a_long_name"]
    tests = {f"{model} vs {other}": {"overall": {"p_value": 0.0004 if other == "historical_mean" else 0.095,
                                                 "statistic": -2.0}}
             for model in models for other in names + models if other != model}
    lines = rendered(dm_table(tests, models, names + models[1:]))
    assert max(map(len, lines)) <= 80 and not any("…" in line for line in lines)
    assert "Diebold-Mariano p-values" in lines[0] and "msft_seq2seq_with_a_long_name" in lines[1]
    assert row(lines, "random walk") == ["0.095", "better", "0.095", "better"]
    assert row(lines, "hist. mean") == ["<0.001", "better", "<0.001", "better"]
    assert row(lines, "msft_many_to_one") == ["0.095", "better"]  # the second model's test against the first
    alone = rendered(dm_table(tests, models[:1], names))
    assert not any(line.startswith("msft_many_to_one ") for line in alone)  # no row of a model against itself


def test_the_forecast_table_uses_one_number_of_decimals_per_column():
    forecast = SimpleNamespace(target="Close", last_date=dt.date(2017, 6, 30), last_value=68.56,
                               dates=[dt.date(2017, 7, d) for d in (3, 5, 6)], values=[68.6612, 102.3, 9.87654],
                               calendar="XNAS trading sessions", actual=[67.81, None, 68.2])
    lines = rendered(forecast_table(forecast))
    cells = [re.findall(r"[\d.]+%?|—", line.split("2017-07-0")[1])[1:] for line in lines if "2017-07-0" in line]
    assert [c[0] for c in cells] == ["68.661", "102.300", "9.877"]  # 4 significant digits of the smallest
    assert [c[2] for c in cells] == ["67.810", "—", "68.200"]
    assert "last value 68.560" in lines[0]
    forecast.actual = None
    assert "actual" not in "\n".join(rendered(forecast_table(forecast)))
