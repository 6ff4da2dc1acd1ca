"""The `lstmcast` command line: typer commands that parse, call one workflow and render (rich on stderr, data on
stdout). Each command imports its workflow inside its body, so `lstmcast --help` loads neither torch nor pandas."""

from lstmcast.cli import backtest, predict, states, train  # noqa: F401  (each module registers its command)
from lstmcast.cli.app import app

__all__ = ["app"]
