"""Shared fixtures: tiny configs and runs on the shipped data, written under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CONFIGS = ROOT / "configs"

TINY = ["--set", "model.hidden_size=12", "--set", "training.epochs=1"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_config(path: Path, **sections: dict) -> Path:
    """A small many-to-one config on the last rows of MSFT, with sections overridden key by key."""
    config = {
        "data": {"path": str(DATA / "msft_daily_ohlcv.csv"), "target": "Close", "lookback": 16, "horizon": 3},
        "model": {"kind": "many_to_one", "hidden_size": 8, "num_layers": 2},
        "training": {"epochs": 2, "batch_size": 128, "seed": 0, "threads": 1},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run of each kind (CPI data: small and fast), shared by the read-only tests."""
    from lstmcast.cli import app

    base = tmp_path_factory.mktemp("runs")
    runs = {}
    for kind, extra in {"many_to_one": {"proj_size": 3}, "seq2seq": {"teacher_forcing": 0.5}}.items():
        config = write_config(
            base / f"{kind}.yaml",
            data={"path": str(DATA / "us_core_cpi_monthly.csv"), "date_column": "observation_date",
                  "target": "CPILFESL", "lookback": 12, "horizon": 4},
            model={"kind": kind, "hidden_size": 6, "num_layers": 2, "dropout": 0.2, **extra},
        )
        result = CliRunner().invoke(app, ["train", str(config), "--out", str(base / kind)])
        assert result.exit_code == 0, result.output
        runs[kind] = base / kind
    return runs


def edit_meta(run: Path, change) -> None:
    """Edit a run's meta.json and re-seal its meta_sha256, as someone who knows the format would: for tests of the
    checks that lie behind that seal."""
    import hashlib
    import json

    meta = json.loads((run / "meta.json").read_text())
    change(meta)
    body = {key: value for key, value in meta.items() if key != "meta_sha256"}
    meta["meta_sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (run / "meta.json").write_text(json.dumps(meta))
