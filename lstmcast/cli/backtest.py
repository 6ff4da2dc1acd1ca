"""lstmcast backtest."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DataSetOption, DebugOption, ForceOption, JsonOption, as_date, chunk_progress, date_option, err, notice, out,
    parse_levels, reported, say,
)
from lstmcast.cli.panelbacktest import is_panel, run_panel_backtest
from lstmcast.cli.render import distribution_table, dm_table, intervals_table, scores_table
from lstmcast.errors import ConfigError


class Adaptive(str, enum.Enum):
    tracking = "tracking"
    aci = "aci"


def parse_refit(value: str) -> str:
    if value not in ("never", "every") and not re.fullmatch(r"[1-9][0-9]{0,5}", value):
        raise typer.BadParameter("use never, every, or a number K (retrain every K-th origin), at most 999999")
    return value


@app.command(short_help="Walk-forward evaluation against naive and statistical baselines.")
def backtest(
    sources: Annotated[list[Path], typer.Argument(metavar="RUN_OR_CONFIG",
                                                  help="Run directories and/or YAML configs, scored on the same "
                                                       "origins.")],
    data: Annotated[Optional[Path], typer.Option("--data", metavar="CSV", help="CSV to evaluate on (default: each "
                                                 "model's own).")] = None,
    origins: Annotated[Optional[int], typer.Option("--origins", min=1, max=10_000_000, metavar="N",
                                                   help="Use the last N origins.")] = None,
    date_from: Annotated[Optional[dt.datetime], date_option("--from", "First origin date (default: the test split "
                                                            "of the first model).")] = None,
    step: Annotated[int, typer.Option(min=1, max=1_000_000, metavar="N", help="Observations between "
                                      "origins.")] = 1,
    refit: Annotated[str, typer.Option(parser=parse_refit, metavar="never|every|K",
                                       help="never (reuse a run's model; train a config once), every (retrain at each "
                                            "origin) or K (every K-th origin); retraining uses an expanding window "
                                            "up to the origin.")] = "never",
    season: Annotated[Optional[int], typer.Option(min=1, max=10_000, metavar="N",
                                                  help="Season of the seasonal-naive baseline (default: 5 for "
                                                       "business days, 12 monthly, 4 quarterly).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Report directory: forecasts.csv, "
                                                    "metrics.csv, report.json, PNGs.")] = None,
    names: Annotated[Optional[list[str]], typer.Option(
        "--name", metavar="NAME", help="Name of each run or config in tables and reports, in order (default: the "
                                       "directory or file name).")] = None,
    levels: Annotated[Optional[str], typer.Option(
        "--levels", metavar="L[,L...]", help="Also score prediction intervals at these levels in percent, e.g. 80,95: "
                                             "adaptive conformal intervals around every forecaster.")] = None,
    adaptive: Annotated[Adaptive, typer.Option("--adaptive",
                                          help="How the intervals adapt after each realised error: tracking (the "
                                               "log half-width moves by gamma per miss or hit; never unbounded) "
                                               "or aci (Gibbs & Candes: the working level moves).")
    ] = Adaptive.tracking,
    gamma: Annotated[Optional[float], typer.Option(
        "--gamma", min=0.0001, max=1.0, metavar="G",
        help="Step size of the adaptive intervals (default 0.2 for tracking; 0.005 for aci, where 0.02 suits "
             "monthly data).")] = None,
    window: Annotated[int, typer.Option("--window", min=10, max=100_000, metavar="N",
                                        help="How many of the latest realised errors the intervals read: aci its "
                                             "quantile, tracking its starting width.")] = 250,
    samples: Annotated[Optional[int], typer.Option(
        "--samples", min=10, max=100_000, metavar="N",
        help="Sample paths per origin for the probabilistic scorecard (CRPS, pinball, PIT) of probabilistic heads "
             "and the Gaussian, bootstrap and GARCH baselines (default 1000 when a probabilistic head is "
             "backtested; give it to score the baselines alone).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1,
                                      help="Seed of those sample paths.")] = 0,
    per_series: Annotated[bool, typer.Option(
        "--per-series", help="Panels: also train each config on each series alone (same config and epochs) and "
                             "compare it with the global model, per series and pooled.")] = False,
    set_: DataSetOption = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Walk-forward evaluation against the random walk, drift, seasonal-naive, mean and ETS baselines (and, for
    probabilistic heads, the Gaussian and bootstrap random walks and GARCH(1,1)).

    Examples:

      lstmcast backtest runs/msft_many_to_one runs/msft_seq2seq --out reports/msft

      lstmcast backtest configs/cpi_monthly.yaml --from 2010-01-01 --refit 12

      lstmcast backtest runs/msft_many_to_one --origins 250 --step 5 --json

      lstmcast backtest configs/msft_many_to_one.yaml --from 2015-01-02 --levels 80,95

      lstmcast backtest runs/msft_student_t --from 2015-01-02 --out reports/t   # CRPS vs GARCH, PIT plot

      lstmcast backtest configs/stocks_panel.yaml --per-series   # global vs one model per series, pooled
    """
    from lstmcast.workflows.backtest import BacktestRequest, backtest as run_backtest  # torch loads here

    with reported(debug):
        if out_dir is not None and str(out_dir) == "-":
            raise ConfigError("--out -: a backtest report is a directory of files; give a path, or use --json to "
                              "print the report on standard output")
        if origins is not None and date_from is not None:
            raise ConfigError("give --origins or --from, not both")
        common = dict(sources=sources, data_path=data, origins=origins, date_from=as_date(date_from), step=step,
                      refit=None if refit == "never" else 1 if refit == "every" else int(refit), season=season,
                      out=out_dir, force=force, overrides=list(set_ or []), names=list(names or []))
        if is_panel(sources):
            unsupported = {"--levels": levels is not None, "--samples": samples is not None}
            return run_panel_backtest(common | {"per_series": per_series}, json_=json_, unsupported=unsupported)
        if per_series:
            raise ConfigError("--per-series compares a panel's global model with one model per series; these "
                              "sources are single series")
        request = BacktestRequest(**common, levels=parse_levels(levels), adaptive=adaptive.value, gamma=gamma,
                                  window=window, samples=samples, seed=seed)
        with chunk_progress(enabled=not json_ and err.is_terminal, label="backtesting") as on_progress:
            outcome = run_backtest(request, on_progress=on_progress, notice=notice)
        if json_:
            out.print_json(json.dumps(outcome.report))
            return
        _render(outcome, len(sources))
        say(f"{len(outcome.origin_dates)} origins {outcome.origin_dates[0]} .. {outcome.origin_dates[-1]}, horizon "
            f"{outcome.horizon}, {outcome.seconds:.2f} s" + (f"; report in {out_dir}" if out_dir else ""))


def _render(outcome: Any, models: int) -> None:
    scores = outcome.scores
    rows = {name: {**scores.overall[name], "dm_rw": _p_vs(scores.diebold_mariano, name, "random_walk")}
            for name in outcome.names}
    distribution = outcome.report.get("distribution", {}).get("by_model", {})
    extra = [("dm_rw", "DM p RW")]
    if distribution:  # the probabilistic score side by side, for the forecasters that have one
        extra.append(("crps", "CRPS", None))
        for name, row in rows.items():
            row["crps"] = distribution.get(name, {}).get("crps_overall")
    up = "" if scores.always_up is None else f"; always calling 'up' scores {scores.always_up:.1f}% on dir."
    out.print(scores_table(
        f"Walk-forward leaderboard ({len(outcome.origin_dates)} origins, horizon {outcome.horizon}; * best)", rows,
        extra=extra,
        caption="skill: 1 - RMSE/RMSE(random walk); MAE/RW: relative MAE; MASE: mean over steps k of MAE_k / "
                "in-sample k-step naive MAE; DM p RW: Diebold-Mariano (HLN) of equal squared error with the random "
                "walk" + up + ("; CRPS: of the sample paths, for probabilistic heads (the baselines' below)"
                              if distribution else "")))
    out.print(dm_table(scores.diebold_mariano, outcome.names[:models], outcome.names))
    if "intervals" in outcome.report:
        out.print(intervals_table(outcome.report["intervals"]))
    if "distribution" in outcome.report:
        out.print(distribution_table(outcome.report["distribution"]))


def _p_vs(tests: dict[str, Any], name: str, other: str) -> Optional[float]:
    test = tests.get(f"{name} vs {other}") or tests.get(f"{other} vs {name}")
    return None if test is None else test["overall"]["p_value"]
