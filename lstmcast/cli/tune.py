"""lstmcast tune."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import DebugOption, ForceOption, JsonOption, StopFlag, notice, out, reported, safe, say


@app.command(short_help="Search a config's tune: space with Optuna; every trial a run directory.")
def tune(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML config with a tune: section.")],
    trials: Annotated[int, typer.Option("--trials", min=1, max=100_000, metavar="N",
                                        help="Finish N trials in the sweep (all processes together).")] = 20,
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="SWEEP", help="Sweep directory (default "
                                                    "sweeps/<config name>); run again to resume.")] = None,
    objective: Annotated[str, typer.Option(metavar="validation|backtest",
                                           help="Rank trials by the best validation loss, or by a walk-forward "
                                                "MASE over the validation split in your units.")] = "validation",
    storage: Annotated[Optional[str], typer.Option(metavar="URL", help="An Optuna storage URL for a cluster (e.g. "
                                                   "postgresql://user@host/db); default: SWEEP/study.journal.")] = None,
    study: Annotated[Optional[str], typer.Option(metavar="NAME", help="Study name in the storage (default: the "
                                                 "sweep directory's name).")] = None,
    pruner: Annotated[str, typer.Option(metavar="median|hyperband|none",
                                        help="Stop hopeless trials early on their validation loss.")] = "median",
    seed: Annotated[Optional[int], typer.Option(help="Sampler seed, for a repeatable one-process sweep (default: "
                                                "training.seed plus this process's id).")] = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Search the config's tune: section (ranges or choices of config keys) with Optuna's TPE sampler, pruning
    hopeless trials; print the leaderboard and write SWEEP/leaderboard.csv and SWEEP/best.yaml.

    Resumable: run the same command again after Ctrl-C or kill -9; finished trials are never run again. Several
    processes may run it on one sweep at once (same machine or a shared file system).

    Examples:

      lstmcast tune configs/cpi_monthly.yaml --trials 20 --out sweeps/cpi

      lstmcast tune configs/cpi_monthly.yaml --trials 20 --out sweeps/cpi --objective backtest

      lstmcast train sweeps/cpi/best.yaml --out runs/cpi_best
    """
    from lstmcast.workflows.train import train_run  # torch and optuna load here, not at --help
    from lstmcast.workflows.tune import TuneRequest, tune as run_tune

    with reported(debug, sigterm_raises=False):
        request = TuneRequest(config, out_dir or Path("sweeps") / config.stem, trials, objective=objective,
                              storage=storage, study=study, pruner=pruner, seed=seed, force=force)
        stop = StopFlag()
        with stop.installed():
            outcome = run_tune(request, train=train_run, should_stop=stop, notice=notice,
                               on_trial=_progress_line if not json_ else lambda row, done, total: None)
        _render(outcome, json_)


def _progress_line(row: Any, done: int, total: int) -> None:
    value = "" if row.value is None else f" {row.value:.5g}"
    why = f" ({row.note})" if row.note else ""
    say(f"[{done}/{total}] trial {row.number}: {row.state.lower()}{value}{why}")


def _render(outcome: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps({
            "sweep": str(outcome.folder), "objective": outcome.objective, "ran_here": outcome.ran,
            "best": outcome.best.as_dict() if outcome.best else None,
            "best_config": str(outcome.best_config) if outcome.best_config else None,
            "trials": [row.as_dict() for row in outcome.rows]}, default=str))
        return
    from rich.table import Table

    from lstmcast.workflows.tune import OBJECTIVES

    keys = list(outcome.rows[0].params) if outcome.rows else []
    table = Table(title=f"Sweep {safe(outcome.folder.name)}: {len(outcome.rows)} trials by {OBJECTIVES[outcome.objective]}"
                  " (lowest first)", title_justify="left")
    for header in ["trial", "state", "value", *keys, "epochs", "note"]:
        table.add_column(safe(header), justify="right" if header not in ("state", "note") else "left")
    for row in outcome.rows:
        table.add_row(str(row.number), row.state.lower(), "" if row.value is None else f"{row.value:.5g}",
                      *[safe(_shown(row.params.get(key))) for key in keys],
                      "" if row.epochs_run is None else f"{row.best_epoch}/{row.epochs_run}", safe(row.note))
    out.print(table)
    if outcome.best is not None:
        say(f"best: trial {outcome.best.number} ({outcome.best.run_dir}); its config: {outcome.best_config}")
    say(f"leaderboard: {outcome.folder / 'leaderboard.csv'}; {outcome.ran} trial(s) run by this process in "
        f"{outcome.seconds:.0f} s")


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
