"""Rich tables for the commands' results (rendering apart from the work). Score tables fit an 80-column terminal:
no vertical rules, numbers never wrapped, the same decimals down a column, '*' after the best value and a space after
every other, so that decimal points stay aligned."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from lstmcast.cli.common import printable, safe

# (key, header, format, best): what a user reads first comes first; None formats by _decimals(digits=3)
SCORE_COLUMNS = [
    ("skill", "skill %", lambda v: f"{100 * v:+.1f}", max),
    ("rel_mae", "MAE/RW", lambda v: f"{v:.3f}", min),
    ("mae", "MAE", None, min),
    ("rmse", "RMSE", None, min),
    ("mase", "MASE", None, min),
    ("directional_accuracy", "dir. %", lambda v: f"{v:.1f}", max),
]
# the baselines' keys (as in metrics.csv and --json) as a table shows them; a run's name is shown as given
LABELS = {"random_walk": "random walk", "seasonal_naive": "seasonal naive", "historical_mean": "hist. mean",
          "ets": "ETS", "gaussian_rw": "Gaussian RW", "bootstrap_rw": "bootstrap RW", "garch": "GARCH(1,1)-t"}
MISSING = "—"


def label(name: str) -> str:
    return LABELS.get(name, name)


def _decimals(values: Sequence[float], digits: int = 4) -> int:
    """Decimals that show about `digits` significant digits of the column's smallest value, the same for every row
    (so a far worse baseline cannot round the model's figures away)."""
    smallest = min((abs(v) for v in values if v), default=0.0)
    magnitude = next((power for power, bound in ((3, 1000), (2, 100), (1, 10), (0, 1)) if smallest >= bound), -1)
    return max(0, digits - 1 - magnitude)


def _compact(title: str, caption: str = "", *, min_width: Optional[int] = None) -> Table:
    """A table without vertical rules (two spaces between columns): the leaderboard fits 80 columns this way."""
    return Table(title=title, title_justify="left", caption=caption or None, caption_justify="left",
                 box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False, min_width=min_width)


def _number_column(table: Table, header: str, cells: list[str], marked: Optional[list[bool]] = None) -> list[Text]:
    """Add a column of right-aligned numbers and return its cells, padded here because rich strips trailing spaces
    when it right-aligns: a best value gets '*', every other row a space, so decimal points line up."""
    if marked is not None:
        cells = [cell + ("*" if best else " ") for cell, best in zip(cells, marked)]
    width = max([len(header), *map(len, cells)])
    table.add_column(Text(header, justify="right"), justify="left", no_wrap=True, min_width=width)
    return [Text(cell.rjust(width), style="bold" if marked and best else "")
            for cell, best in zip(cells, marked or [False] * len(cells))]


def _formatted(values: list[Optional[float]], fmt: Optional[Callable[[float], str]]) -> list[str]:
    if fmt is None:
        places = _decimals([v for v in values if v is not None], digits=3)
        fmt = lambda v, places=places: f"{v:.{places}f}"  # noqa: E731
    return [MISSING if v is None else fmt(v) for v in values]


def scores_table(title: str, rows: dict[str, dict[str, Any]], *, extra: Sequence[tuple] = (),
                 caption: str = "", first: str = "model", marks: bool = True) -> Table:
    """One row per forecaster (or per series: `first` names the column); SCORE_COLUMNS then `extra` columns: (key,
    header) p-values, or (key, header, None) a score in automatic decimals, lowest best; * marks the best (unless
    `marks` is off: rows in different units have no best)."""
    table = _compact(title, caption)
    table.add_column(first, overflow="fold", min_width=8)
    columns = [(key, header, fmt, best) for key, header, fmt, best in SCORE_COLUMNS]
    columns += [(item[0], item[1], _p_value, None) if len(item) == 2 else (item[0], item[1], item[2], min)
                for item in extra]
    cells = []
    for key, header, fmt, pick in columns:
        values = [row.get(key) for row in rows.values()]
        present = [v for v in values if v is not None]
        best = pick(present) if pick and marks and len(present) > 1 else None
        marked = [v is not None and v == best for v in values] if pick and marks else None
        cells.append(_number_column(table, header, _formatted(values, fmt), marked))
    for index, name in enumerate(rows):
        table.add_row(safe(label(name)), *(column[index] for column in cells))
    return table


def _p_value(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def dm_table(tests: dict[str, dict[str, Any]], models: list[str], others: list[str]) -> Table:
    """Pairwise Diebold-Mariano p-values: each model (column) against every forecaster (row), so the table grows
    down with the baselines and stays narrow."""
    table = _compact("Diebold-Mariano p-values (squared error, HLN)",
                     "each cell: p-value, and whether the column's model is better or worse than the row's forecaster",
                     min_width=60)  # room for the title and the caption when there is one model
    table.add_column("against", overflow="fold")
    columns = []
    for model in models:
        cells = []
        for other in others:
            test, flip = tests.get(f"{model} vs {other}"), False
            if test is None:
                test, flip = tests.get(f"{other} vs {model}"), True
            cells.append("" if test is None or model == other else _dm_cell(test["overall"], flip))
        columns.append(cells)
        table.add_column(Text(printable(label(model))), overflow="fold")
    for index, other in enumerate(others):
        if any(column[index] for column in columns):  # not a lone model's row against itself
            table.add_row(safe(label(other)), *(Text(column[index]) for column in columns))
    return table


def _dm_cell(test: dict[str, Any], flip: bool) -> str:
    """'p better' or 'p worse', the p-value right-aligned in 6 characters (the column is left-aligned)."""
    if test.get("p_value") is None:
        return "   n/a"
    better = (test["statistic"] < 0) != flip
    return f"{_p_value(test['p_value']):>6} {'better' if better else 'worse'}"


def forecast_table(forecast: Any) -> Table:
    """The dated forecast; with --as-of, the actual values beside it (the same decimals down each column)."""
    values = list(forecast.values)
    actual = getattr(forecast, "actual", None)
    places = _decimals([*values, *(v for v in actual or [] if v is not None)])
    name = f"{safe(forecast.series)}: " if getattr(forecast, "series", None) else ""
    table = Table(title=f"{name}{safe(forecast.target)} after {forecast.last_date} (last value "
                  f"{forecast.last_value:.{places}f})", title_justify="left",
                  caption=f"dates: {safe(forecast.calendar)}", caption_justify="left")
    intervals = getattr(forecast, "intervals", {}) or {}
    headers = ["step", "date", safe(forecast.target), "change"] + [f"{level}% interval" for level in intervals] \
        + (["actual"] if actual is not None else [])
    for header in headers:
        table.add_column(header, justify="left" if header == "date" else "right")
    for step, (day, value) in enumerate(zip(forecast.dates, values), start=1):
        change = f"{(value / forecast.last_value - 1) * 100:+.2f}%" if forecast.last_value else MISSING
        cells = [str(step), str(day), f"{value:.{places}f}", change]
        for lower, upper in intervals.values():
            low, high = lower[step - 1], upper[step - 1]
            cells.append(MISSING if low is None else f"{low:.{places}f} .. {high:.{places}f}")
        if actual is not None:
            known = actual[step - 1] if step <= len(actual) else None
            cells.append(MISSING if known is None else f"{known:.{places}f}")
        table.add_row(*cells)
    if intervals:
        method = getattr(forecast, "interval_method", None) or "split conformal"
        table.caption += f"; intervals: {safe(method)}"
    drift = getattr(forecast, "drift", None)
    if drift:
        flag = "[bold red]UNUSUAL[/]" if drift["unusual"] else "usual"
        table.caption += (f"\nstate drift: {flag}, distance {drift['distance']:.2f} to the training states, farther "
                          f"than {100 * drift['training_quantile']:.1f}% of them (flagged beyond 99%: "
                          f"{drift['threshold']:.2f})")
    return table


def intervals_table(card: dict[str, Any]) -> Table:
    """The adaptive interval scorecard: per forecaster and level, coverage against nominal, mean width and Winkler
    score (over the horizon steps; per step in report.json)."""
    method = {"tracking": "quantile tracking"}.get(card["method"], "ACI")  # reports before 0.5 say "ACI"
    reading = "" if card["method"] == "tracking" else f", window {card.get('window', 250)}"
    table = _compact(f"Prediction intervals (adaptive conformal along the origins: {method}, gamma {card['gamma']:g}"
                     f"{reading}, {card['scale'].replace('_', ' ')} scale)",
                     "cover %: share of targets inside; width and Winkler (width plus 2/alpha times any miss) in the "
                     "data's units, lower is better")
    table.add_column("model", no_wrap=True)
    rows = [(name, level, scores[level]["overall"]) for name, scores in card["by_model"].items()
            for level in card["levels"]]
    table.add_column("level", justify="right")
    cover = _number_column(table, "cover %", _formatted([None if r[2]["coverage"] is None else 100 * r[2]["coverage"]
                                                         for r in rows], lambda v: f"{v:.1f}"))
    width = _number_column(table, "width", _formatted([r[2]["width"] for r in rows], None))
    score = _number_column(table, "Winkler", _formatted([r[2]["winkler"] for r in rows], None))
    unbounded = [scores[level]["unbounded"] for scores in card["by_model"].values() for level in card["levels"]]
    table.add_column("unbounded", justify="right")
    for index, (name, level, _) in enumerate(rows):
        table.add_row(safe(label(name)), f"{level}%", cover[index], width[index], score[index], str(unbounded[index]))
    table.caption += ("; unbounded: intervals still infinite for want of realised errors, left out of the other "
                      "columns")
    return table


def distribution_table(card: dict[str, Any]) -> Table:
    """The probabilistic scorecard over all steps: CRPS (also relative to the Gaussian random walk), pinball loss,
    the coverage of each forecaster's own central intervals, the PIT uniformity test and DM on CRPS against the best
    baseline; * marks the lowest CRPS and pinball."""
    by_model, baselines = card["by_model"], card["baselines"]
    best = min(baselines, key=lambda name: by_model[name]["crps_overall"]) if baselines else None
    reference = by_model[baselines[0]]["crps_overall"] if baselines else None
    table = _compact(f"Probabilistic scores ({card['samples']} sample paths per origin; * best)",
                     "CRPS and pinball in the data's units, lower is better; rel.: CRPS / the Gaussian random "
                     "walk's; cover: the forecaster's own central intervals, not recalibrated; PIT p: the smallest "
                     "over steps of the chi-square uniformity test (small: miscalibrated); DM p: Diebold-Mariano on "
                     f"CRPS against the best baseline ({label(best) if best else '—'})")
    table.add_column("model", no_wrap=True)
    names = list(by_model)
    crps = [by_model[n]["crps_overall"] for n in names]
    pin = [by_model[n]["pinball_overall"] for n in names]
    columns = [
        _number_column(table, "CRPS", _formatted(crps, None), [v == min(crps) for v in crps]),
        _number_column(table, "rel.", _formatted([v / reference if reference else None for v in crps],
                                                 lambda v: f"{v:.3f}")),
        _number_column(table, "pinball", _formatted(pin, None), [v == min(pin) for v in pin]),
    ]
    for level in card["levels"]:
        cover = [by_model[n]["intervals"][level]["overall"]["coverage"] for n in names]
        columns.append(_number_column(table, f"cover {level}%", _formatted(
            [None if v is None else 100 * v for v in cover], lambda v: f"{v:.1f}")))
    pit = [min((p for p in by_model[n]["pit_p_value"] if p is not None), default=None) for n in names]
    columns.append(_number_column(table, "PIT p", _formatted(pit, lambda v: f"{v:.3f}")))
    tests = card["diebold_mariano"]
    dm = [None if n == best else (tests.get(f"{n} vs {best}") or {}).get("overall", {}).get("p_value") for n in names]
    columns.append(_number_column(table, "DM p", _formatted(dm, lambda v: f"{v:.3f}")))
    for index, name in enumerate(names):
        table.add_row(safe(label(name)), *(column[index] for column in columns))
    return table


def layers_table(outcome: Any) -> Table:
    table = Table(title=f"States per layer ({outcome.meta['mode']} mode)", title_justify="left")
    for label_ in ("phase", "layer", "h/c units", "mean |h|", "sat. %", "forget", "half-life", "top units (corr)"):
        table.add_column(label_, justify="left" if label_ in {"phase", "top units (corr)"} else "right")
    for s in outcome.layers:
        table.add_row(s.phase, str(s.layer), f"{s.h_units}/{s.c_units}", f"{s.mean_abs_h:.3f}",
                      f"{100 * s.saturated:.1f}", "—" if s.mean_forget is None else f"{s.mean_forget:.3f}",
                      "—" if s.half_life is None else f"{s.half_life:.1f}",
                      " ".join(f"{unit}({corr:+.2f})" for unit, corr in s.top_units))
    table.caption = ("sat.: |h| or |tanh c| > 0.95; half-life: steps for c to halve under the mean forget gate; "
                     "corr: of h with the scaled target input" + ("" if outcome.meta["gates"] else
                                                                  "; forget needs --gates"))
    return table
