"""Every shipped config trains for a tiny run and predicts (the examples in configs/ never rot)."""

from __future__ import annotations

import json

import pytest

from lstmcast.cli import app

from conftest import CONFIGS, TINY


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_config_trains_and_predicts(runner, tmp_path, config):
    run = tmp_path / config.stem
    result = runner.invoke(app, ["train", str(config), "--out", str(run), *TINY])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", str(run), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    for forecast in printed.get("forecasts", [printed]):  # a panel run forecasts each of its series
        assert len(forecast["forecast"]) >= 1
