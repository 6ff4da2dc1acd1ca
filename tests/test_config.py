from __future__ import annotations

import datetime as dt
import json

import pytest

from lstmcast.cli import app
from lstmcast.config import apply_overrides, build_config, load_config, parse_yaml
from lstmcast.errors import ConfigError

from conftest import CONFIGS, write_config


def test_shipped_configs_validate():
    for path in sorted(CONFIGS.glob("*.yaml")):
        config = load_config(path)
        assert config.data.path.is_file(), path


def test_relative_data_path_is_taken_from_the_config_file(tmp_path):
    config = load_config(CONFIGS / "msft_seq2seq.yaml")
    assert config.data.path.is_absolute() and config.data.path.name == "msft_daily_ohlcv.csv"
    assert config.data.split.validation == dt.date(2012, 1, 3)


def test_every_problem_is_reported_with_its_dotted_path_and_closest_key(tmp_path):
    raw = {"data": {"path": "x.csv", "target": "Close", "lookbak": 5, "horizon": 0},
           "model": {"kind": "many_to_one", "hiden_size": 4, "dropout": float("nan")},
           "training": {"epochs": -1}}
    with pytest.raises(ConfigError) as caught:
        build_config(raw, source="c.yaml")
    text = str(caught.value)
    assert "c.yaml: 5 problem(s)" in text
    assert "data.lookbak: unknown key (did you mean 'lookback'?)" in text
    assert "model.hiden_size: unknown key (did you mean 'hidden_size'?)" in text
    assert "data.horizon: Input should be greater than 0" in text
    assert "model.dropout: must be a finite number" in text
    assert "training.epochs" in text


def test_unknown_model_kind_is_named():
    with pytest.raises(ConfigError, match="model"):
        build_config({"data": {"path": "x", "target": "y"}, "model": {"kind": "gru"}}, source="c")


def test_yaml_aliases_duplicates_and_python_tags_are_refused():
    with pytest.raises(ConfigError, match=r"c.yaml:2:4: YAML aliases"):
        parse_yaml("a: &x [1, 2]\nb: *x\n", source="c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml:2:1: duplicate key 'a'"):
        parse_yaml("a: 1\na: 2\n", source="c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml:1:4: .*python/object"):
        parse_yaml("a: !!python/object/apply:os.system ['echo hacked']\n", source="c.yaml")


def test_overrides_are_parsed_as_yaml_scalars(tmp_path):
    path = write_config(tmp_path / "c.yaml")
    config = load_config(path, ["training.epochs=7", "model.dropout=0.25", "data.features=[Open, High]"])
    assert config.training.epochs == 7 and config.model.dropout == 0.25
    assert config.data.features == ("Open", "High")
    with pytest.raises(ConfigError, match="expected SECTION.KEY=VALUE"):
        apply_overrides({}, ["training.epochs"])


def test_split_fractions_must_leave_training_rows():
    with pytest.raises(ConfigError, match="leave at least 10%"):
        build_config({"data": {"path": "x", "target": "y", "split": {"validation": 0.5, "test": 0.45}},
                      "model": {"kind": "many_to_one"}}, source="c")


def test_proj_size_must_be_smaller_than_hidden_size():
    with pytest.raises(ConfigError, match="proj_size must be smaller"):
        build_config({"data": {"path": "x", "target": "y"},
                      "model": {"kind": "seq2seq", "hidden_size": 4, "proj_size": 4}}, source="c")


def test_every_config_key_is_listed_with_its_meaning_and_the_readme_names_only_real_keys(runner):
    import re

    from lstmcast.config.keys import MEANING, config_keys

    listed = [row["key"] for row in config_keys()]
    assert sorted(listed) == sorted(MEANING), "config/keys.py MEANING and the schema disagree"
    readme = (CONFIGS.parent / "README.md").read_text()
    named = {key for row in re.findall(r"^\| (`[a-z_.]+`(?:, `[a-z_.]+`)*) \|", readme, re.M)
             for key in re.findall(r"`((?:data|model|training)\.[a-z_.]+)`", row)}
    named.discard("model.safetensors")  # the run directory's table, not a key
    assert named and named <= set(MEANING), sorted(named - set(MEANING))
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0 and [row["key"] for row in json.loads(result.stdout)] == listed
    resolved = runner.invoke(app, ["config", str(CONFIGS / "cpi_monthly.yaml"), "--set", "training.epochs=7"])
    assert resolved.exit_code == 0 and "epochs: 7" in resolved.stdout and "patience:" in resolved.stdout
