"""The typer application; commands register themselves from their own modules (see cli/__init__.py)."""

from __future__ import annotations

import re
import warnings
from typing import Annotated, Any

import typer
import typer.core

from lstmcast import __version__
from lstmcast.cli.common import out

def _readable_type(self: typer.core.TyperArgument, ctx: Any) -> str:
    """typer labels a variadic argument <list[Path]>; a person reads <path>... (help text only)."""
    return re.sub(r"<list\[(\w+)\]>", lambda match: f"<{match.group(1).lower()}>...", _typer_type(self, ctx))


_typer_type = typer.core.TyperArgument.display_type
typer.core.TyperArgument.display_type = _readable_type

app = typer.Typer(
    name="lstmcast",
    help="LSTM forecasts for financial time series that you can look inside.\n\n"
    "Example: lstmcast train configs/msft_many_to_one.yaml --out runs/msft && lstmcast predict runs/msft",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"lstmcast {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version.")] = False,
) -> None:
    """LSTM forecasts for financial time series that you can look inside."""
    # torch warns on every projected-LSTM call that oneDNN has no kernel for it; the fallback is exact, so say nothing.
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
