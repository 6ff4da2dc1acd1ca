"""Run directories: safetensors identified by parsing, meta.json typed and validated, and a run checked against itself
(config and weights hashes, floating-point weights, sane scaler), with 0.1.0's runs still readable."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lstmcast.cli import app
from lstmcast.errors import ModelFileError
from lstmcast.runs.store import load_tensors, load_weights

from conftest import DATA, edit_meta

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V010_FORECAST = [260.32026881745367, 261.16952674249933, 262.0262980336719, 262.8877482826084]  # by lstmcast 0.1.0


def test_every_safetensors_header_length_is_read_as_safetensors(tmp_path):
    """Issue 11.1: a header length whose first byte is 0x80 (one in 32) was taken for a pickle."""
    first_bytes = set()
    for pad in range(300):
        path = tmp_path / f"{pad}.safetensors"
        save_file({"w": torch.arange(6.0)}, str(path), metadata={"pad": "x" * pad})
        first_bytes.add(path.read_bytes()[0])
        tensors, metadata = load_tensors(path)
        assert torch.equal(tensors["w"], torch.arange(6.0)) and metadata["pad"] == "x" * pad
    assert first_bytes == set(range(0, 256, 8)) and 0x80 in first_bytes  # every length modulo 256 the format allows


def test_a_run_whose_weights_header_starts_with_0x80_predicts(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    weights = load_file(run / "model.safetensors")
    for pad in range(300):
        save_file(weights, str(run / "model.safetensors"), metadata={"pad": "x" * pad})
        if (run / "model.safetensors").read_bytes()[0] == 0x80:
            break
    assert (run / "model.safetensors").read_bytes()[0] == 0x80
    _rehash(run)
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 0, result.output


def _rehash(run: Path) -> None:
    """Record the current config.yaml and weights in meta.json, as a tamperer who knows the format would."""
    edit_meta(run, lambda meta: meta.update(
        config_sha256=hashlib.sha256((run / "config.yaml").read_bytes()).hexdigest(),
        weights_sha256=hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()))


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x80\x04\x95garbage", "a pickle or torch archive, which lstmcast never loads"),
    (b"PK\x03\x04" + b"\x00" * 40, "a pickle or torch archive"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "git lfs pull"),
    (struct.pack("<Q", 10**9) + b"{}", "not a valid safetensors file"),
    (struct.pack("<Q", 2) + b"[]", "not a valid safetensors file"),
])
def test_what_is_not_safetensors_is_named_and_never_read(tmp_path, content, message):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load_tensors(path)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int64, torch.bool, torch.uint8])
def test_integer_and_bool_weights_are_refused(tmp_path, dtype):
    """Issue 11.6: int8, int64 and bool weights were cast silently into nonsense."""
    path = tmp_path / "w.safetensors"
    save_file({"lstm.weight": torch.ones(3, dtype=dtype), "head.bias": torch.ones(2)}, str(path))
    with pytest.raises(ModelFileError, match="lstmcast writes floating-point weights only"):
        load_weights(path)


def test_a_config_edited_after_training_is_refused(runner, trained_runs, tmp_path):
    """Issue 11.6: an edited lookback, transform, target, scaler or horizon silently changed forecasts."""
    for edit in (("lookback: 12", "lookback: 6"), ("transform: log_return", "transform: none"),
                 ("horizon: 4", "horizon: 2"), ("scaler: standard", "scaler: minmax")):
        run = tmp_path / edit[1].replace(": ", "_")
        shutil.copytree(trained_runs["many_to_one"], run)
        text = (run / "config.yaml").read_text()
        assert edit[0] in text
        (run / "config.yaml").write_text(text.replace(edit[0], edit[1], 1))
        result = runner.invoke(app, ["predict", str(run)])
        assert result.exit_code == 4 and "config.yaml: does not match the SHA-256" in result.output, result.output
        _rehash(run)  # even with the hash forged, meta.json and the config must agree
        result = runner.invoke(app, ["predict", str(run)])
        assert result.exit_code == 4 and "config.yaml and meta.json disagree" in result.output, result.output


def test_replaced_weights_are_refused(runner, trained_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    weights = load_file(run / "model.safetensors")
    save_file({k: v * 2 for k, v in weights.items()}, str(run / "model.safetensors"))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "model.safetensors: does not match the SHA-256" in result.output


TAMPERED = {
    "columns missing": lambda m: m.pop("columns"),
    "scaler without center": lambda m: m["scaler"].pop("center"),
    "lookback a string": lambda m: m.update(lookback="twelve"),
    "lookback -1": lambda m: m.update(lookback=-1),
    "horizon 1e12": lambda m: m.update(horizon=10**12),
    "a 5000-digit integer": lambda m: m.update(parameters="BIG"),
    "scale zero": lambda m: m["scaler"].update(scale=[0.0]),
    "scale 1e300": lambda m: m["scaler"].update(scale=[1e300]),
    "center NaN": lambda m: m["scaler"].update(center=[float("nan")]),
    "frequency odd": lambda m: m.update(frequency="17min"),
    "target not first": lambda m: m.update(target="x"),
    "transforms wrong": lambda m: m.update(transforms={"CPILFESL": "cube"}),
    "data path a list": lambda m: m["data"].update(path=["a"]),
}


@pytest.mark.parametrize("name", TAMPERED)
def test_every_tampered_meta_field_is_a_clear_model_file_error(runner, trained_runs, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["many_to_one"], run)
    edit_meta(run, TAMPERED[name])  # sealed again, so the field's own check must catch it
    (run / "meta.json").write_text((run / "meta.json").read_text().replace('"BIG"', "9" * 5000))
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4, (name, result.output)
    assert "meta.json" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000 + "1" + "}" * 100_000,
                                  "not json", "[1, 2]", "\udcff"])
def test_corrupt_meta_json_is_a_clear_model_file_error(runner, trained_runs, tmp_path, text):
    run = tmp_path / "run"
    shutil.copytree(trained_runs["seq2seq"], run)
    (run / "meta.json").write_text(text, errors="surrogateescape")
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 4 and "meta.json" in result.output and "Traceback" not in result.output


def test_a_run_written_by_lstmcast_0_1_0_still_predicts_the_same(runner, tmp_path):
    run = tmp_path / "old_run"
    shutil.copytree(FIXTURES / "run_v0_1_0", run)
    for name in ("config.yaml", "meta.json"):
        (run / name).write_text((run / name).read_text().replace("DATA/", f"{DATA}/"))
    result = runner.invoke(app, ["predict", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert [row["value"] for row in json.loads(result.stdout)["forecast"]] == pytest.approx(V010_FORECAST, rel=1e-12)
    assert "did not record hashes" in result.output
