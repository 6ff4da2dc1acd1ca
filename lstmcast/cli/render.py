"""Rich tables for the commands' results (rendering apart from the work)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from rich.table import Table

from lstmcast.cli.common import safe

# (key, header, format, best): what a user reads first comes first
SCORE_COLUMNS = [
    ("skill", "skill %", lambda v: f"{100 * v:+.2f}", max),
    ("rel_mae", "MAE/RW", lambda v: f"{v:.3f}", min),
    ("mae", "MAE", None, min),
    ("rmse", "RMSE", None, min),
    ("mase", "MASE", lambda v: f"{v:.3f}", min),
    ("directional_accuracy", "dir. %", lambda v: f"{v:.1f}", max),
]


def _decimals(values: list[float]) -> int:
    """Decimals that show about 4 significant digits of the column's smallest value, the same for every row (so a
    far worse baseline cannot round the model's figures away)."""
    smallest = min((abs(v) for v in values if v), default=0.0)
    return 0 if smallest >= 1000 else 1 if smallest >= 100 else 2 if smallest >= 10 else 3 if smallest >= 1 else 4


def _cells(rows: dict[str, dict[str, Any]], key: str, fmt: Optional[Callable], pick: Optional[Callable]) -> list[str]:
    values = [row.get(key) for row in rows.values()]
    present = [v for v in values if v is not None]
    if fmt is None:
        places = _decimals(present)
        fmt = lambda v, places=places: f"{v:.{places}f}"  # noqa: E731
    best = pick(present) if pick and len(present) > 1 else None
    return ["—" if v is None else (f"[bold]{fmt(v)}*[/]" if v == best else fmt(v)) for v in values]


def scores_table(title: str, rows: dict[str, dict[str, Any]], *, extra: list[tuple[str, str]] = (),
                 caption: str = "") -> Table:
    """One row per forecaster; SCORE_COLUMNS then `extra` (key, header) p-value columns; * marks the best."""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("model")
    columns = [(key, header, fmt, best) for key, header, fmt, best in SCORE_COLUMNS]
    columns += [(key, header, _p_value, None) for key, header in extra]
    cells = [_cells(rows, key, fmt, best) for key, _, fmt, best in columns]
    for _, header, _, _ in columns:
        table.add_column(header, justify="right")
    for index, name in enumerate(rows):
        table.add_row(safe(name), *(column[index] for column in cells))
    return table


def _p_value(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def dm_table(tests: dict[str, dict[str, Any]], models: list[str], others: list[str]) -> Table:
    """Pairwise Diebold-Mariano p-values: each model (row) against every other forecaster (column)."""
    table = Table(title="Diebold-Mariano p-values of each model against each forecaster (squared error, HLN)",
                  title_justify="left")
    table.add_column("model")
    for name in others:
        table.add_column(safe(name), justify="right")
    for model in models:
        cells = []
        for other in others:
            test, flip = tests.get(f"{model} vs {other}"), False
            if test is None:
                test, flip = tests.get(f"{other} vs {model}"), True
            cells.append("" if test is None or model == other else _dm_cell(test["overall"], flip))
        table.add_row(safe(model), *cells)
    return table


def _dm_cell(test: dict[str, Any], flip: bool) -> str:
    if test.get("p_value") is None:
        return "n/a"
    better = (test["statistic"] < 0) != flip
    return f"{_p_value(test['p_value'])} {'better' if better else 'worse'}"


def forecast_table(forecast: Any) -> Table:
    values = forecast.values
    places = _decimals(values)
    table = Table(title=f"{safe(forecast.target)} after {forecast.last_date} (last value "
                  f"{forecast.last_value:.{places}f})", title_justify="left",
                  caption=f"dates: {safe(forecast.calendar)}", caption_justify="left")
    for header in ("step", "date", safe(forecast.target), "change"):
        table.add_column(header, justify="left" if header == "date" else "right")
    for step, (day, value) in enumerate(zip(forecast.dates, values), start=1):
        change = f"{(value / forecast.last_value - 1) * 100:+.2f}%" if forecast.last_value else "—"
        table.add_row(str(step), str(day), f"{value:.{places}f}", change)
    return table


def layers_table(outcome: Any) -> Table:
    table = Table(title=f"States per layer ({outcome.meta['mode']} mode)", title_justify="left")
    for label in ("phase", "layer", "h/c units", "mean |h|", "sat. %", "forget", "half-life", "top units (corr)"):
        table.add_column(label, justify="left" if label in {"phase", "top units (corr)"} else "right")
    for s in outcome.layers:
        table.add_row(s.phase, str(s.layer), f"{s.h_units}/{s.c_units}", f"{s.mean_abs_h:.3f}",
                      f"{100 * s.saturated:.1f}", "—" if s.mean_forget is None else f"{s.mean_forget:.3f}",
                      "—" if s.half_life is None else f"{s.half_life:.1f}",
                      " ".join(f"{unit}({corr:+.2f})" for unit, corr in s.top_units))
    table.caption = ("sat.: |h| or |tanh c| > 0.95; half-life: steps for c to halve under the mean forget gate; "
                     "corr: of h with the scaled target input" + ("" if outcome.meta["gates"] else
                                                                  "; forget needs --gates"))
    return table
