"""The `lstmcast` command line: typer commands that parse, call one workflow and render (rich on stderr, data on
stdout). Each command imports its workflow inside its body, so `lstmcast --help` loads neither torch nor pandas."""

from lstmcast.cli.app import app

# Each module registers its command; the order here is the order of `lstmcast --help`.
from lstmcast.cli import train  # noqa: E402, F401  isort: skip
from lstmcast.cli import predict  # noqa: E402, F401  isort: skip
from lstmcast.cli import states  # noqa: E402, F401  isort: skip
from lstmcast.cli import backtest  # noqa: E402, F401  isort: skip
from lstmcast.cli import tune  # noqa: E402, F401  isort: skip
from lstmcast.cli import export  # noqa: E402, F401  isort: skip
from lstmcast.cli import inspect  # noqa: E402, F401  isort: skip
from lstmcast.cli import keys  # noqa: E402, F401  isort: skip

__all__ = ["app"]
