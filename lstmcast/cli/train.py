"""lstmcast train."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from lstmcast.cli.app import app
from lstmcast.cli.common import (
    DebugOption, ForceOption, JsonOption, StopFlag, err, notice, out, reported, safe, say,
)
from lstmcast.cli.render import scores_table
from lstmcast.errors import ConfigError


@app.command(short_help="Train an LSTM from a YAML config into a run directory.")
def train(
    context: typer.Context,
    config: Annotated[Optional[Path], typer.Argument(metavar="CONFIG", help="YAML config (see configs/).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="RUN",
                                                    help="Run directory to write (default runs/<config name>).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE",
                                                      help="Override a config key, e.g. --set training.epochs=5.")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, max=100_000, metavar="N",
                                                  help="Shortcut for --set training.epochs=N (with --resume: the new "
                                                       "total).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", metavar="CSV", help="Train on this CSV instead of "
                                                 "data.path.")] = None,
    device: Annotated[Optional[str], typer.Option(metavar="auto|cpu|cuda",
                                                  help="Shortcut for --set training.device=...")] = None,
    final: Annotated[bool, typer.Option("--final", help="After evaluating, refit on all rows for the best epoch count "
                                        "and save that model (training.final: true).")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="RUN",
                                                   help="Continue the unfinished run RUN exactly as it started.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Panels: refuse a series too short for lookback + horizon "
                                         "and the splits, instead of skipping it with a notice.")] = False,
    nproc: Annotated[int, typer.Option("--nproc", min=1, max=1024, metavar="N",
                                       help="Train data-parallel on N processes of this machine (torchrun's agent "
                                            "starts them; same weights as one process). Several machines: run "
                                            "torchrun yourself (README).")] = 1,
    timeout: Annotated[int, typer.Option("--timeout", min=10, max=86_400, metavar="SECONDS",
                                         help="Several processes: how long one waits for another before the job "
                                              "ends with an error.")] = 300,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Train an LSTM from a YAML config; write a run directory; print test metrics next to naive baselines. With
    data.series: all (or a list, or a wide file) one global model learns every series; scores per series and pooled.

    Examples:

      lstmcast train configs/msft_many_to_one.yaml --out runs/msft

      lstmcast train configs/msft_many_to_one.yaml --final --out runs/msft    (then forecast from the last date)

      lstmcast train configs/cpi_monthly.yaml --set training.epochs=5 --set model.hidden_size=16

      lstmcast train --resume runs/msft    (after Ctrl-C, kill or a full disk)

      lstmcast train configs/stocks_panel.yaml --out runs/panel    (one model for AAPL, GOOG, IBM, MSFT)

      lstmcast train configs/stocks_panel.yaml --nproc 2    (two processes; or torchrun --nproc_per_node=2 -m lstmcast
      train ...)
    """
    from lstmcast.training.distributed import from_environment  # torch loads here, not at --help
    from lstmcast.workflows.train import train_run

    ranks = from_environment()
    target = resume or out_dir or (Path("runs") / config.stem if config else None)
    if nproc > 1:
        with reported(debug):
            _launch(nproc, ranks.spread, target=target, arguments=_arguments(context))
        return
    with reported(debug, sigterm_raises=False, rank=ranks):
        run_config = None
        if resume is None:
            from lstmcast.config import load_config

            if config is None:
                raise ConfigError("give a CONFIG file, or --resume RUN to continue an unfinished run")
            shortcuts = {"training.epochs": epochs, "training.device": device, "training.final": final or None}
            overrides = list(set_ or []) + [f"{key}={value}" for key, value in shortcuts.items() if value is not None]
            run_config = load_config(config, overrides, data_path=data)
        else:
            given = [name for name, value in (("CONFIG", config), ("--set", set_), ("--data", data),
                                              ("--device", device), ("--out", out_dir), ("--final", final)) if value]
            if given:
                raise ConfigError(f"--resume continues the run exactly as it started, so {', '.join(given)} cannot "
                                  "change it (only --epochs can); to train differently, start over with --force")
        stop = StopFlag(repeat_exits=not ranks.spread)  # torchrun's agent passes a Ctrl-C on: not a second one
        with stop.installed(), _progress(enabled=not json_ and err.is_terminal and ranks.lead, stop=stop,
                                         epochs=run_config.training.epochs if run_config else epochs) as callbacks:
            outcome = train_run(run_config, out=target, force=force, resume=resume is not None, epochs=epochs,
                                callbacks=callbacks, notice=notice if ranks.lead else _quiet, strict=strict,
                                ranks=ranks, timeout_s=timeout)
        if outcome is not None:
            _render(outcome, json_)


def _quiet(message: str) -> None:
    """Ranks other than 0 leave the notices to rank 0, which reads the same data."""


def _arguments(context: typer.Context) -> list[str]:
    """The command line each rank runs: this one, read back from its parsed parameters, without --nproc."""
    arguments = [context.info_name]
    for parameter in context.command.params:
        value = context.params.get(parameter.name)
        if parameter.name == "nproc" or value in (None, False, []):
            continue
        if parameter.param_type_name == "argument":
            arguments.append(str(value))
        elif getattr(parameter, "is_flag", False):
            arguments.append(parameter.opts[0])
        else:
            arguments += [part for item in (value if parameter.multiple else [value])
                          for part in (parameter.opts[0], str(item))]
    return arguments


def _launch(nproc: int, under_torchrun: bool, *, target: Optional[Path], arguments: list[str]) -> None:
    from lstmcast.errors import DistributedError
    from lstmcast.training.launch import launch

    if under_torchrun:
        raise ConfigError("--nproc starts torchrun's agent itself; under torchrun, leave --nproc out")
    launched = launch(arguments, nproc)
    if launched.signal_name is not None:
        from lstmcast.runs.layout import has_checkpoint

        saved = target is not None and has_checkpoint(target.absolute())
        after = (f"; the last completed epoch is kept: continue with `lstmcast train --resume {target}` (any number "
                 "of processes)") if saved else "; no epoch was completed, so nothing is kept: run the command again"
        raise DistributedError(f"rank {launched.failed_rank} (pid {launched.pid}) was killed by "
                               f"{launched.signal_name}, so every rank stopped{after}")
    if launched.exit_code:
        raise typer.Exit(launched.exit_code)  # the ranks printed why


def _render(outcome: Any, as_json: bool) -> None:
    meta = outcome.meta
    test_range = [str(day) for day in meta.target_dates["test"]]
    if as_json:
        panel = {} if meta.panel is None else {"series": {name: member.test_metrics for name, member in
                                                          meta.panel.series.items()},
                                               "skipped": meta.panel.skipped, "pooled_tests": meta.panel.tests}
        out.print_json(json.dumps({"run_dir": str(outcome.run_dir), "best_epoch": meta.best_epoch,
                                   "epochs_run": meta.epochs_run, "stopped_early": meta.stopped_early,
                                   "windows": meta.windows, "test_range": test_range,
                                   "test_metrics": meta.test_metrics, "test_always_up": meta.test_always_up,
                                   "final_fit": meta.final_fit and meta.final_fit.model_dump(mode="json"), **panel}))
        return
    if meta.panel is not None:
        _render_panel(outcome, test_range)
        return
    why = "early stopping" if meta.stopped_early else "all epochs"
    windows = ", ".join(f"{split} {count}" for split, count in meta.windows.items())
    say(f"trained {meta.epochs_run} epoch{'s' if meta.epochs_run != 1 else ''} ({why}); best validation loss at epoch "
        f"{meta.best_epoch}; windows: {windows}")
    up = "" if meta.test_always_up is None else f"; always calling 'up' scores {meta.test_always_up:.1f}% on dir."
    out.print(scores_table(
        f"Test targets {test_range[0]} .. {test_range[1]} ({safe(meta.target)}, original units)",
        meta.test_metrics, extra=[("dm_p_value", "DM p")],
        caption="skill: 1 - RMSE/RMSE(random walk); MAE/RW: MAE relative to the random walk; MASE: mean over steps "
                "k of MAE_k / in-sample k-step naive MAE; DM p: Diebold-Mariano test of the model against that row"
                + up))
    if meta.final_fit:
        say(f"final fit: the saved model was refit on all {meta.final_fit.windows} windows up to "
            f"{meta.final_fit.last_date} for {meta.final_fit.epochs} epoch{'s' if meta.final_fit.epochs != 1 else ''}; "
            "the scores above are the evaluated model's")
    say(f"run written to {outcome.run_dir}")


def _render_panel(outcome: Any, test_range: list[str]) -> None:
    meta, panel = outcome.meta, outcome.meta.panel
    skipped = f"; skipped: {', '.join(map(safe, panel.skipped))}" if panel.skipped else ""
    say(f"one {meta.model_kind} model over {len(panel.series)} series; trained {meta.epochs_run} epochs, best "
        f"validation loss at epoch {meta.best_epoch}; cut-offs: validation from {panel.validation_start}, test from "
        f"{panel.test_start}{skipped}")
    out.print(scores_table(
        f"Pooled over {len(panel.series)} series, test targets {test_range[0]} .. {test_range[1]}",
        meta.test_metrics, extra=[("dm_p_value", "DM p")],
        caption="scale-free: skill and MAE/RW from geometric means of each series' RMSE and MAE ratios to the random "
                "walk, MASE the mean over series; DM p: Diebold-Mariano on the mean over series of squared errors "
                "scaled by each series' in-sample random-walk variance"))
    rows = {name: {**member.test_metrics["model"], "dm_p_value": member.test_metrics["random_walk"].get("dm_p_value")}
            for name, member in panel.series.items()}
    out.print(scores_table("The global model on each series (MAE, RMSE in that series' units)", rows,
                           extra=[("dm_p_value", "DM p vs RW")], first="series", marks=False))
    if meta.final_fit:
        say(f"final fit: refit on all {meta.final_fit.windows} windows for {meta.final_fit.epochs} epochs; the scores "
            "above are the evaluated model's")
    say(f"run written to {outcome.run_dir} (skill.png: skill by series)")


@contextlib.contextmanager
def _progress(*, enabled: bool, stop: StopFlag, epochs: Optional[int]) -> Iterator[Any]:
    """Training callbacks: a rich progress bar (epoch, batch, losses, time left) when on a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from lstmcast.workflows.train import Callbacks

    if not enabled:
        yield Callbacks(should_stop=stop)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        epoch_task = progress.add_task("epochs", total=epochs, info="")
        batches = progress.add_task("batches", total=None, info="")

        def on_batch(epoch: int, batch: int, total: int, loss: float) -> None:
            progress.update(batches, completed=batch, total=total, description=f"epoch {epoch} batch",
                            info=f"loss {loss:.4g}")

        def on_epoch(report: Any) -> None:
            progress.update(epoch_task, completed=report.epoch, info=f"train {report.train_loss:.4g} "
                            f"val {report.validation_loss:.4g}{' *' if report.improved else ''}")

        yield Callbacks(on_batch=on_batch, on_epoch=on_epoch, should_stop=stop)
