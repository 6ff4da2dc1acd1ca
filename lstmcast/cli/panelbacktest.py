"""lstmcast backtest on panels: the request from the command line, and the pooled and per-series tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lstmcast.cli.common import chunk_progress, err, notice, out, safe, say
from lstmcast.cli.render import label, scores_table
from lstmcast.errors import ConfigError


def run_panel_backtest(options: dict[str, Any], *, json_: bool, unsupported: dict[str, bool]) -> None:
    """`options` are PanelBacktestRequest's fields; `unsupported` names options a panel backtest refuses."""
    from lstmcast.workflows.panelbacktest import PanelBacktestRequest, panel_backtest  # torch loads here

    for option, given in unsupported.items():
        if given:
            raise ConfigError(f"{option}: the interval and probabilistic scorecards are not built for panels yet; "
                              "backtest one series (set data.series to it) to get them")
    request = PanelBacktestRequest(**options)
    with chunk_progress(enabled=not json_ and err.is_terminal, label="backtesting") as on_progress:
        outcome = panel_backtest(request, on_progress=on_progress, notice=notice)
    if json_:
        out.print_json(json.dumps(outcome.report))
        return
    render(outcome.report)
    say(f"{outcome.report['origins']} panel origins {outcome.report['first_origin']} .. "
        f"{outcome.report['last_origin']}, horizon {outcome.report['horizon']}, {outcome.seconds:.1f} s"
        + (f"; report in {request.out}" if request.out else ""))


def render(report: dict[str, Any]) -> None:
    models, tests, pooled = report["models"], report["pooled_tests"], report["pooled"]
    first = models[0]
    rows = {name: {**row, "dm": _p(tests, first, name)} for name, row in pooled.items()}
    out.print(scores_table(
        f"Pooled over {len(report['series'])} series ({report['origins']} panel origins, horizon "
        f"{report['horizon']}; * best)", rows, extra=[("dm", f"DM p vs {label(first)}")],
        caption="scale-free: skill and MAE/RW from geometric means of each series' RMSE and MAE ratios to its random "
                "walk, MASE the mean over series; DM p: pooled Diebold-Mariano of the first model against that row "
                "(the mean over series of squared errors scaled by each series' in-sample random-walk variance)"))
    for model in models:
        per_series = {name: {**entry["overall"][model],
                             "dm": entry["diebold_mariano"].get(f"{model} vs random_walk", {}).get("p_value")}
                      for name, entry in report["series"].items()}
        out.print(scores_table(f"{label(model)} on each series (MAE, RMSE in that series' units)", per_series,
                               extra=[("dm", "DM p vs RW")], first="series", marks=False))
    if report["skipped"]:
        say("left out: " + "; ".join(f"{safe(name)} ({why})" for name, why in report["skipped"].items()))


def _p(tests: dict[str, dict[str, Any]], model: str, other: str) -> float | None:
    test = tests.get(f"{model} vs {other}") or tests.get(f"{other} vs {model}")
    return None if test is None else test.get("p_value")


def is_panel(paths: list[Path]) -> bool:
    """Whether the sources are panels (all of them), or single series (none); a mix is refused."""
    from lstmcast.runs.sources import is_panel_source  # pandas loads here

    panels = [is_panel_source(path) for path in paths]
    if any(panels) and not all(panels):
        raise ConfigError("some sources are panels and some single series; backtest the panels together, and the "
                          "single series together")
    return all(panels) and bool(panels)
