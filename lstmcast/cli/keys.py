"""lstmcast config: every config key, or a config file with every default written out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from lstmcast.cli.app import app
from lstmcast.cli.common import DebugOption, JsonOption, out, reported, safe
from lstmcast.errors import ConfigError


@app.command("config", short_help="List every config key, or show a config resolved.")
def config(
    path: Annotated[Optional[Path], typer.Argument(metavar="CONFIG", help="A YAML config to validate and show "
                                                   "with every default written out.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE",
                                                      help="Override a key, as train does.")] = None,
    json_: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Every config key with its default and meaning; or CONFIG validated, as `train` would run it.

    Examples:

      lstmcast config

      lstmcast config configs/msft_seq2seq.yaml --set training.epochs=5
    """
    from lstmcast.config import dump_config, load_config
    from lstmcast.config.keys import config_keys

    with reported(debug):
        if path is None and set_:
            raise ConfigError("--set needs a CONFIG to apply to, e.g. lstmcast config configs/cpi_monthly.yaml --set "
                              "training.epochs=5")
        if path is not None:
            resolved = load_config(path, list(set_ or []))
            if json_:
                out.print_json(resolved.model_dump_json())
            else:
                out.print(dump_config(resolved), end="", markup=False, highlight=False)
            return
        rows = config_keys()
        if json_:
            out.print_json(json.dumps(rows))
            return
        table = Table(title="Config keys (set in YAML, or with --set section.key=value)", title_justify="left")
        for header in ("key", "default", "meaning"):
            table.add_column(header, overflow="fold")
        for row in rows:
            default = "required" if row["required"] else json.dumps(row["default"]) if row["default"] is not None \
                else "none"
            table.add_row(row["key"], safe(default), safe(row["meaning"]))
        out.print(table)
