"""The `lstmcast` command: parse, call one workflow, render (rich on stderr, data on stdout)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcast import __version__
from lstmcast.errors import ConfigError, Interrupted, LstmcastError

app = typer.Typer(
    name="lstmcast",
    help="LSTM forecasts for financial time series that you can look inside.\n\n"
    "Example: lstmcast train configs/msft_many_to_one.yaml --out runs/msft && lstmcast predict runs/msft",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)  # piped: no squeezing

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout (no tables, no bars).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an error.")]
DataOption = Annotated[
    Optional[Path], typer.Option("--data", help="CSV to read (default: the CSV the model was trained on).")
]
RunArgument = Annotated[Path, typer.Argument(help="A run directory written by `lstmcast train`.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"lstmcast {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """LSTM forecasts for financial time series that you can look inside."""
    # torch warns on every projected-LSTM call that oneDNN has no kernel for it; the fallback is exact, so say nothing.
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")


@contextlib.contextmanager
def reported(debug: bool) -> Iterator[None]:
    """Map the exception family to one message on stderr and its exit code; tracebacks only with --debug."""
    try:
        yield
    except LstmcastError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except MemoryError:
        if debug:
            traceback.print_exc()
        err.print("[bold red]error:[/] out of memory; use a smaller model, batch or date range")
        raise typer.Exit(7) from None
    except OSError as exc:  # a last safety net: every writer translates its own errors first
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}")
        raise typer.Exit(6) from None


class StopFlag:
    """SIGINT/SIGTERM ask the loop to stop at the next batch; a second Ctrl-C exits at once."""

    def __init__(self) -> None:
        self.signal_number = 0

    def __call__(self) -> bool:
        return self.signal_number != 0

    def handle(self, number: int, frame: Any) -> None:
        if self.signal_number and number == signal.SIGINT:
            os._exit(130)  # second Ctrl-C: every file on disk is already complete (atomic writes)
        self.signal_number = number

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopFlag"]:
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for number in previous:
            signal.signal(number, self.handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _metrics_table(title: str, metrics: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    columns = [("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE %"), ("mase", "MASE"),
               ("directional_accuracy", "direction %")]
    for _, label in columns:
        table.add_column(label, justify="right")
    for name, row in metrics.items():
        table.add_row(escape(name), *(("—" if row.get(key) is None else f"{row[key]:.4g}") for key, _ in columns))
    return table


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (see configs/).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run directory to write (default runs/<config name>).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set training.epochs=5.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Shortcut for --set training.epochs=N.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Train on this CSV instead of data.path.")] = None,
    device: Annotated[Optional[str], typer.Option(help="Shortcut for --set training.device=auto|cpu|cuda.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the unfinished run RUN_DIR.")] = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Train an LSTM from a YAML config; write a run directory; print test metrics next to naive baselines.

    Example: lstmcast train configs/msft_many_to_one.yaml --out runs/msft --set training.epochs=5
    """
    from lstmcast import workflows

    with reported(debug):
        if resume is None and config is None:
            raise ConfigError("give a CONFIG file, or --resume RUN_DIR to continue an unfinished run")
        run_config = None
        if resume is None:
            from lstmcast.config import load_config

            shortcuts = {"training.epochs": epochs, "training.device": device}
            overrides = list(set_ or []) + [f"{key}={value}" for key, value in shortcuts.items() if value is not None]
            run_config = load_config(config, overrides, data_path=data)
        target = resume or out_dir or Path("runs") / config.stem
        stop = StopFlag()
        epochs_total = run_config.training.epochs if run_config else None
        with stop.installed(), _training_progress(enabled=not json_ and err.is_terminal, stop=stop,
                                                  epochs=epochs_total) as make:
            try:
                outcome = workflows.train_run(run_config, out=target, force=force, resume=resume is not None,
                                              make_callbacks=make, notice=_notice)
            except _stop_requested() as exc:
                number = stop.signal_number or signal.SIGINT
                raise Interrupted(_interrupted_message(workflows.partial_dir(target), target, number),
                                  signal_number=number) from exc
        if json_:
            meta = outcome.meta
            out.print_json(json.dumps({"run_dir": str(outcome.run_dir), "best_epoch": meta["best_epoch"],
                                       "epochs_run": meta["epochs_run"], "stopped_early": meta["stopped_early"],
                                       "windows": meta["windows"], "test_range": outcome.test_range,
                                       "test_metrics": outcome.metrics}))
            return
        meta = outcome.meta
        why = "early stopping" if meta["stopped_early"] else "all epochs"
        windows = ", ".join(f"{split} {count}" for split, count in meta["windows"].items())
        err.print(f"trained {meta['epochs_run']} epochs ({why}); best validation loss at epoch {meta['best_epoch']}; "
                  f"windows: {windows}")
        out.print(_metrics_table(f"Test split {outcome.test_range[0]} .. {outcome.test_range[1]} "
                                 "(original units)", outcome.metrics))
        err.print(f"run written to {escape(str(outcome.run_dir))}")


def _interrupted_message(partial: Path, target: Path, number: int) -> str:
    name = signal.Signals(number).name
    if not (partial / "checkpoint.safetensors").is_file():
        return f"stopped by {name} before the first epoch ended; nothing to resume, run the command again"
    return (f"stopped by {name}; the last completed epoch, with the best weights so far, is saved in {partial}; "
            f"continue with `lstmcast train --resume {target}`")


def _stop_requested() -> type[BaseException]:
    from lstmcast.training import StopRequested

    return StopRequested


def _notice(message: str) -> None:
    err.print(f"[yellow]note:[/] {escape(message)}")


@contextlib.contextmanager
def _training_progress(*, enabled: bool, stop: StopFlag, epochs: Optional[int]) -> Iterator[Any]:
    """A rich progress bar (epoch, batch, losses, ETA) fed by the training callbacks."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from lstmcast.training import Callbacks

    if not enabled:
        yield lambda: Callbacks(should_stop=stop)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        epoch_task = progress.add_task("epochs", total=epochs, info="")
        batches = progress.add_task("batches", total=None, info="")
        last = {"validation": "—"}

        def on_batch(epoch: int, batch: int, total: int, loss: float) -> None:
            progress.update(batches, completed=batch, total=total,
                            description=f"epoch {epoch} batch", info=f"loss {loss:.4g}")

        def on_epoch(report: Any) -> None:
            last["validation"] = f"{report.validation_loss:.4g}"
            progress.update(epoch_task, completed=report.epoch, info=f"train {report.train_loss:.4g} "
                            f"val {last['validation']}{' *' if report.improved else ''}")

        yield lambda: Callbacks(on_batch=on_batch, on_epoch=on_epoch, should_stop=stop)


@app.command()
def predict(
    run_dir: RunArgument,
    data: DataOption = None,
    horizon: Annotated[Optional[int], typer.Option(min=1, max=10_000, help="Steps to forecast (default: the trained horizon).")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Also write the forecast to this CSV.")] = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Forecast the next steps after the CSV's last row, dated, in the data's own units.

    Example: lstmcast predict runs/msft_many_to_one --horizon 5 --out forecast.csv
    """
    from lstmcast import workflows

    with reported(debug):
        if out_file is not None:
            from lstmcast.persistence import check_writable

            check_writable(out_file, force=force)
        forecast = workflows.predict_run(run_dir, data_path=data, horizon=horizon)
        for message in forecast.notices:
            _notice(message)
        if out_file is not None:
            workflows.write_forecast_csv(out_file, forecast, force=force)
        if json_:
            out.print_json(json.dumps({
                "target": forecast.target, "last_date": str(forecast.last_date), "last_value": forecast.last_value,
                "forecast": [{"date": str(d), "value": v} for d, v in zip(forecast.dates, forecast.values)],
            }))
            return
        table = Table(title=f"{escape(forecast.target)} after {forecast.last_date} "
                      f"(last value {forecast.last_value:.6g})", title_justify="left")
        table.add_column("step", justify="right")
        table.add_column("date")
        table.add_column(escape(forecast.target), justify="right")
        table.add_column("change", justify="right")
        for step, (d, v) in enumerate(zip(forecast.dates, forecast.values), start=1):
            table.add_row(str(step), str(d), f"{v:.6g}", f"{(v / forecast.last_value - 1) * 100:+.2f}%"
                          if forecast.last_value else "—")
        out.print(table)
        if out_file is not None:
            err.print(f"forecast written to {escape(str(out_file))}")


@app.command("dump-states")
def dump_states(
    run_dir: RunArgument,
    data: DataOption = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Output path (default: inside RUN_DIR).")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="npz | npy | parquet | lstmvis (default: npz if "
                                               "under 512 MiB, else npy).")] = None,
    mode: Annotated[str, typer.Option(help="windows: what the model sees for each forecast; stream: one pass over "
                                      "the whole series from a zero state.")] = "windows",
    gates: Annotated[bool, typer.Option("--gates", help="Also record the i, f, g, o gate activations.")] = False,
    date_from: Annotated[Optional[str], typer.Option("--from", help="First window end (or stream date), YYYY-MM-DD.")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Last window end (or stream date), YYYY-MM-DD.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG: prices, forecasts, h and c heatmaps.")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, max=65536, help="Windows per chunk (bounds memory).")] = 1024,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Write every layer's hidden and cell states (and optionally gates) at every step, with the predictions.

    Example: lstmcast dump-states runs/msft_many_to_one --from 2017-01-01 --gates --plot states.png
    """
    from lstmcast import dumps

    with reported(debug):
        from lstmcast.statefiles import FORMATS

        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        if mode not in ("windows", "stream"):
            raise ConfigError(f"--mode {mode!r}: choose windows or stream")
        if plot is not None:
            from lstmcast.persistence import check_writable

            check_writable(plot, force=force)
        request = dumps.DumpRequest(
            run_dir=run_dir, out=out_path, data_path=data, fmt=fmt, mode=mode, gates=gates,
            date_from=dumps.parse_date(date_from, "--from"), date_to=dumps.parse_date(date_to, "--to"),
            force=force, chunk_size=chunk_size)
        with _chunk_progress(enabled=not json_ and err.is_terminal) as on_progress:
            outcome = dumps.dump_states(request, on_progress=on_progress, notice=_notice)
        if plot is not None:
            dumps.write_plot(plot, outcome, force=force)
        if json_:
            out.print_json(json.dumps({"path": str(outcome.path), "format": outcome.fmt, "meta": outcome.meta}))
            return
        out.print(_layers_table(outcome))
        check = outcome.meta["self_check"]
        timings = outcome.meta["timings"]
        err.print(f"self-check against nn.LSTM (output, h_n, c_n, forecast): max abs error "
                  f"{check['max_abs_error']:.2e} ({check['windows_checked']} windows)")
        err.print(f"states {timings['compute_s']:.2f} s, gates {timings['gates_s']:.2f} s (summed over the worker "
                  f"threads), write {timings['write_s']:.2f} s, {timings['wall_s']:.2f} s in all; "
                  f"{outcome.meta['windows']} window(s) x "
                  f"{outcome.meta['steps']} steps written to {escape(str(outcome.path))} ({outcome.fmt})")
        if plot is not None:
            err.print(f"plot written to {escape(str(plot))}")


def _layers_table(outcome: Any) -> Table:
    table = Table(title=f"States per layer ({outcome.meta['mode']} mode)", title_justify="left")
    for label in ("phase", "layer", "h/c units", "mean |h|", "sat. %", "forget", "half-life", "top units (corr)"):
        table.add_column(label, justify="left" if label in {"phase", "top units (corr)"} else "right")
    for s in outcome.layers:
        table.add_row(s.phase, str(s.layer), f"{s.h_units}/{s.c_units}", f"{s.mean_abs_h:.3f}",
                      f"{100 * s.saturated:.1f}", "—" if s.mean_forget is None else f"{s.mean_forget:.3f}",
                      "—" if s.half_life is None else f"{s.half_life:.1f}",
                      " ".join(f"{unit}({corr:+.2f})" for unit, corr in s.top_units))
    table.caption = ("sat.: |h| or |tanh c| > 0.95; half-life: steps for c to halve under the mean forget gate; "
                     "corr: of h with the scaled target input" + ("" if outcome.meta["gates"] else "; forget needs --gates"))
    return table


@contextlib.contextmanager
def _chunk_progress(*, enabled: bool, label: str = "recording states") -> Iterator[Any]:
    """A progress bar with time left, fed (done, total) by a workflow."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


@app.command()
def backtest(
    sources: Annotated[list[Path], typer.Argument(help="Run directories and/or YAML configs, scored on the same origins.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="CSV to evaluate on (default: each model's own).")] = None,
    origins: Annotated[Optional[int], typer.Option("--origins", min=1, help="Use the last N origins.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="First origin date, YYYY-MM-DD (default: the "
                                                     "test split of the first model).")] = None,
    step: Annotated[int, typer.Option(min=1, help="Observations between origins.")] = 1,
    refit: Annotated[str, typer.Option(help="never (reuse the model), every (retrain at each origin) or K (every "
                                       "K-th origin); retraining uses an expanding window up to the origin.")] = "never",
    season: Annotated[Optional[int], typer.Option(min=1, help="Season of the seasonal-naive baseline (default: 5 "
                                                  "for business days, 12 monthly, 4 quarterly).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Report directory: forecasts.csv, metrics.csv, "
                                                    "report.json, PNGs.")] = None,
    force: ForceOption = False,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Walk-forward evaluation against the random walk, drift, seasonal-naive and mean baselines.

    Example: lstmcast backtest runs/msft_many_to_one configs/msft_seq2seq.yaml --origins 250 --refit 50 --out report
    """
    from lstmcast import backtesting

    with reported(debug):
        if origins is not None and date_from is not None:
            raise ConfigError("give --origins or --from, not both")
        if refit not in ("never", "every") and not (refit.isdigit() and int(refit) > 0):
            raise ConfigError(f"--refit {refit!r}: use never, every, or a positive number K")
        if out_dir is not None:
            from lstmcast.persistence import check_writable

            check_writable(out_dir, force=force)
        from lstmcast.dumps import parse_date

        request = backtesting.BacktestRequest(
            sources=sources, data_path=data, origins=origins, date_from=parse_date(date_from, "--from"), step=step,
            refit=refit, season=season, out=out_dir, force=force)
        with _chunk_progress(enabled=not json_ and err.is_terminal, label="backtesting") as on_progress:
            outcome = backtesting.backtest(request, on_progress=on_progress, notice=_notice)
        if json_:
            out.print_json(json.dumps({"origins": len(outcome.origin_dates), "first_origin": outcome.origin_dates[0],
                                       "last_origin": outcome.origin_dates[-1], "horizon": outcome.horizon,
                                       "overall": outcome.overall, "by_step": outcome.by_step,
                                       "diebold_mariano_vs_random_walk": outcome.diebold_mariano}))
            return
        out.print(_leaderboard(outcome))
        err.print(f"{len(outcome.origin_dates)} origins {outcome.origin_dates[0]} .. {outcome.origin_dates[-1]}, "
                  f"horizon {outcome.horizon}, {outcome.seconds:.2f} s"
                  + (f"; report in {escape(str(out_dir))}" if out_dir else ""))


def _leaderboard(outcome: Any) -> Table:
    columns = [("mae", "MAE", min), ("rmse", "RMSE", min), ("mape", "MAPE %", min), ("smape", "sMAPE %", min),
               ("mase", "MASE", min), ("directional_accuracy", "direction %", max), ("skill", "skill vs RW", max),
               ("dm_p_value", "DM p (vs RW)", None)]
    table = Table(title=f"Walk-forward leaderboard ({len(outcome.origin_dates)} origins, horizon {outcome.horizon}, "
                  "original units; * best)", title_justify="left")
    table.add_column("model")
    for _, label, _ in columns:
        table.add_column(label, justify="right")
    best = {}
    for key, _, pick in columns:
        values = [outcome.overall[n].get(key) for n in outcome.names if outcome.overall[n].get(key) is not None]
        if pick and values:
            best[key] = pick(values)
    for name in outcome.names:
        row = outcome.overall[name]
        cells = []
        for key, _, _ in columns:
            value = row.get(key)
            text = "—" if value is None else (f"{value:.3g}" if key == "dm_p_value" else f"{value:.4g}")
            cells.append(f"[bold]{text}*[/]" if key in best and value == best[key] else text)
        table.add_row(escape(name), *cells)
    table.caption = ("skill: 1 - RMSE/RMSE(random walk); DM p: Diebold-Mariano (HLN) two-sided p-value of equal "
                     "squared error against the random walk")
    return table
