"""What every command shares: the consoles (stderr talks, stdout is data), one error report with its exit code,
signal handling, progress bars, and the option types defined once."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from lstmcast.errors import (
    ConfigError, DistributedError, Interrupted, LstmcastError, OutOfMemory, TrainingDiverged, is_out_of_memory,
)

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # ":x:" in a column name stays ":x:"
out = Console(highlight=False, soft_wrap=True, emoji=False,
              width=None if sys.stdout.isatty() else 160)  # piped: no squeezing
MESSAGE_LIMIT = 4000  # characters of one error message, whatever a file put into it

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout (no tables, no bars).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing output (only one lstmcast wrote).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an error.")]
DataOption = Annotated[Optional[Path], typer.Option(
    "--data", metavar="CSV", help="CSV to read (default: the CSV the model was trained on; - : standard input).")]
RunArgument = Annotated[Path, typer.Argument(metavar="RUN", help="A run directory written by `lstmcast train`.")]
DataSetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="data.KEY=VALUE",
    help="How to read the CSV: data.sep, data.decimal, data.date_format, data.missing, data.date_column, "
         "data.series_column or data.series, e.g. --set data.sep=';'.")]


def parse_series(text: Optional[str]) -> Optional[list[str]]:
    """--series A,B -> ["A", "B"] (None: every series), each once."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError("--series: name at least one series, e.g. --series AAPL,MSFT")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise ConfigError(f"--series lists {twice} twice; name each series once")
    return names


def parse_levels(text: Optional[str]) -> list[float]:
    """--levels 80,95 -> [80.0, 95.0], checked as the API checks levels (config.levels)."""
    if text is None:
        return []
    try:
        levels = [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--levels {text!r}: give coverage levels in percent separated by commas, e.g. 80,95") \
            from None
    from lstmcast.config.levels import checked_levels  # pydantic loads with the config: not at --help

    return checked_levels(levels, what=f"--levels {text!r}")


def date_option(flag: str, text: str) -> Any:
    return typer.Option(flag, formats=["%Y-%m-%d"], metavar="DATE", help=text)


def as_date(value: Optional[dt.datetime]) -> Optional[dt.date]:
    return value.date() if value is not None else None


def say(message: str) -> None:
    err.print(safe(message))


def notice(message: str) -> None:
    err.print(f"[yellow]note:[/] {safe(message)}")


def safe(text: Any) -> str:
    """Text from a file or a path, ready for rich: no control sequences, no markup."""
    return escape(printable(str(text)))


def printable(text: str) -> str:
    """No terminal control sequences, and a bound on length, whatever a file or a path put into a message."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= MESSAGE_LIMIT else cleaned[:MESSAGE_LIMIT] + " ... (message cut)"


@contextlib.contextmanager
def reported(debug: bool, *, sigterm_raises: bool = True, rank: Any = None) -> Iterator[None]:
    """Map the exception family to one message on stderr and its exit code; tracebacks only with --debug.
    SIGTERM (unless the command handles it itself) and Ctrl-C stop the command; atomic writes leave nothing behind.
    Ranks other than 0 of a torchrun job name themselves, and leave the errors all ranks agreed on to rank 0."""
    previous = signal.getsignal(signal.SIGTERM)
    if sigterm_raises:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except LstmcastError as exc:
        if rank is not None and not rank.lead:
            if isinstance(exc, (Interrupted, TrainingDiverged)):
                raise typer.Exit(exc.exit_code) from None
            exc = type(exc)(f"rank {rank.rank}: {exc}") if not isinstance(exc, DistributedError) else exc
        _fail(exc, debug, exc.exit_code)
    except KeyboardInterrupt as exc:
        _fail(Interrupted("interrupted by SIGINT; nothing was written"), debug, 130, cause=exc)
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        _fail(OutOfMemory("out of memory; use a smaller model, batch or date range"), debug, 7, cause=exc)
    except OSError as exc:  # a last safety net: every writer translates its own errors first
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(LstmcastError(where + (exc.strerror or str(exc))), debug, 6, cause=exc)
    finally:
        if sigterm_raises:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(number: int, frame: Any) -> None:
    raise Interrupted("stopped by SIGTERM; nothing was written", signal_number=number)


def _fail(exc: BaseException, debug: bool, code: int, *, cause: Optional[BaseException] = None) -> None:
    if debug:
        traceback.print_exception(cause or exc)
    err.print(f"[bold red]error:[/] {safe(exc)}")
    raise typer.Exit(code) from None


class StopFlag:
    """For train: SIGINT/SIGTERM ask the loop to stop at the next batch; a second Ctrl-C exits at once (unless
    `repeat_exits` is off: torchrun's agent passes the user's Ctrl-C on to its ranks, who got it already)."""

    def __init__(self, *, repeat_exits: bool = True) -> None:
        self.signal_number, self.repeat_exits = 0, repeat_exits

    def __call__(self) -> int:
        return self.signal_number

    def handle(self, number: int, frame: Any) -> None:
        if self.signal_number and number == signal.SIGINT and self.repeat_exits:
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


@contextlib.contextmanager
def chunk_progress(*, enabled: bool, label: str) -> Iterator[Any]:
    """A progress bar with time left, fed (done, total) by a workflow."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)
