"""Fuzzing (Hypothesis): no hostile input makes lstmcast exit 1 with an unhandled exception.

Four surfaces, each fed random and deliberately nasty input: a run's meta.json (for `predict`), the config file of
`train`, `train --set KEY=VALUE`, and the cells of a CSV given to `predict --data`. Every result must be one of the
documented exit codes (0 ok, 2 config, 3 data, 4 model file, 5 diverged, 6 output, 7 memory) and never a traceback.
Examples are derandomized (the same inputs on every run, so CI is reproducible) and no example database is written.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmcast.cli import app

from conftest import DATA, write_config, write_csv

CPI = DATA / "us_core_cpi_monthly.csv"
FUZZ = dict(deadline=None, derandomize=True, database=None,  # reproducible, and no .hypothesis/ directory
            phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow 'explain' phase
            suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- shared ------------------------------------------------------------------------------------------------------

def check(result: Any, allowed: set[int], what: str) -> None:
    """An allowed exit code and no exception other than SystemExit; on failure show the output and the traceback."""
    exc = result.exception
    tb = ""
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert result.exit_code in allowed and not tb, (
        f"{what}\nexit code {result.exit_code} (allowed: {sorted(allowed)})\n"
        f"--- output (last 2000 characters) ---\n{result.output[-2000:]}\n"
        f"--- traceback ---\n{tb or '(none)'}"
    )


def shown(value: Any, limit: int = 3000) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def scratch() -> Path:
    """A fresh directory per example (tmp_path is function scoped, so it is shared by all of a test's examples)."""
    return Path(tempfile.mkdtemp(prefix="lstmcast-fuzz-"))


class Threads:
    """`training.threads` calls torch.set_num_threads, which is process-wide: put it back after each example."""

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.saved)


# Text that cannot be typed into argv still can be written into a file; what a shell can pass is in ARGV_TEXT.
ANY_CHAR = st.characters()  # all of Unicode: control characters, NUL, lone surrogates, right-to-left marks, emoji
FILE_CHAR = st.characters(exclude_categories=("Cs",)) | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
ARGV_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00") | st.characters(
    min_codepoint=0xDC80, max_codepoint=0xDCFF)  # argv: no NUL; undecodable bytes arrive as surrogate escapes
ARGV_TEXT = st.text(ARGV_CHAR, max_size=30)

DATE_TRAPS = ["2020-02-30", "2021-13-01", "0000-01-01", "2015-01-02", "9999-12-31", "2262-04-12", "1677-09-21",
              "2020-01-01T25:00:00", "2020-01-01 12:00:00+05:00"]
YAML_TRAPS = [
    "", "~", "null", "true", "yes", "no", "0x10", "0o17", "1_000", "1e308", "-1e308", "1e999", ".nan", ".inf", "-.inf",
    "[[[[[[", "]]]]", "{", "}", "[a, b", "{a: 1, a: 2}", "[1, [2, [3]]]", "{a: {b: {c: 1}}}", "[]", "{}", "&a x",
    "*a", "&a [*a, *a]", "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary AAAA",
    "!!timestamp 2020-99-99", "!!int abc", "!!float x", "!!bool maybe", "!!set [1]", "!!map [1]", "!!omap [1]",
    "!!str [1]", "!custom x", "%YAML 1.1", "---", "...", "- a\n- b", "a: b", "? x", "'", '"', "'unterminated",
    '"\\0"', '"\\x1b[31m"', '"\\ud800"', "a\tb", "\t", "\r", "\n", "é", "日本", "\u202e", "\U0001f600", "\ufeffx",
    ",", ";", "=", "a=b=c", "==", "#", "|\n  x", ">", "@", "`",
    "[" * 1500 + "]" * 1500, "{a: " * 800 + "1" + "}" * 800, "[" * 3000,  # past the recursion limit; PyYAML is slow
    *DATE_TRAPS,
]


# --- 1. meta.json of a trained run (predict) ------------------------------------------------------------------------

META_TRAPS = [
    "", "\x00", "a\x00b", "\ud800", "\udcff", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "../" * 8 + "etc/passwd",
    "/dev/zero", "/dev/null", "/dev/stdin", "/proc/self/status", "/", ".", "XNYS", "xnys", "XNAS", "XLON", "NOPE",
    "B", "D", "W-FRI", "W-MON", "MS", "ME", "QS", "QE", "YS", "YE", "months=1", "months=12", "months=5",
    "many_to_one", "seq2seq", "none", "log", "log_return", "pct_change", "diff", "standard", "minmax", "robust",
    "2018-11-01", "0001-01-01", "9999-12-31", "2262-04-12", "1677-09-21", "0" * 64, "f" * 64, "CPILFESL",
    "observation_date", str(CPI), str(DATA / "msft_daily_ohlcv.csv"), str(DATA), "A" * 5000,
]
# Raw JSON spliced in where a value goes: numbers Python refuses or turns into infinity, and nesting beyond recursion.
META_RAW = ["9" * 5000, "-" + "9" * 5000, "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1E-400",
            "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "0" + "}" * 50_000]


class Raw:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({shown(self.text, 60)})"


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**63, -(2**63) - 1, 10**30, -(10**30), 1e308, -1e308, 5e-324, -0.0,
                     1e15, 1e16, 0.5]),
    st.text(ANY_CHAR, max_size=30), st.sampled_from(META_TRAPS), st.sampled_from(META_RAW).map(Raw),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(ANY_CHAR, max_size=10) | st.sampled_from(["kind", "center", "scale", "path", "train", "model"]),
        children, max_size=4),
    max_leaves=10,
)


def json_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            paths += json_paths(child, prefix + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += json_paths(child, prefix + (index,))
    return paths


def dump_json(doc: Any) -> str:
    raws: list[str] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            raws.append(node.text)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return node

    text = json.dumps(swap(doc), indent=2)  # ensure_ascii: control characters and lone surrogates as \u escapes
    for number, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{number}@@"', raw)
    return text


# The fields predict acts on once meta.json validates (most other edits are refused by validation, exit 4).
USED_FIELDS = [("data", "path"), ("calendar",), ("frequency",), ("scaler", "kind"), ("scaler", "center", 0),
               ("scaler", "scale", 0), ("scaler", "center"), ("scaler", "scale"), ("format_version",), ("horizon",),
               ("lookback",), ("columns", 0), ("target",), ("lstmcast_version",), ("config_sha256",),
               ("weights_sha256",), ("model_kind",), ("transforms", "CPILFESL")]


# One edit: (where, how, value). `where` is a field predict acts on, or any node of the document by its index in
# json_paths() (modulo their number; 0 is the whole document); an edit of a field that is gone by then is skipped.
meta_edits = st.lists(
    st.tuples(st.one_of(st.sampled_from(USED_FIELDS), st.integers(0, 10_000)),
              st.sampled_from(["replace", "replace", "replace", "delete"]),
              st.one_of(st.text(ANY_CHAR, max_size=30), st.sampled_from(META_TRAPS), json_scalars, json_values)),
    min_size=1, max_size=3,
)


def edit_meta(original: dict, edits: list) -> Any:
    doc: Any = json.loads(json.dumps(original))
    for where, how, value in edits:
        paths = json_paths(doc)
        path = where if isinstance(where, tuple) else paths[where % len(paths)]
        if path not in paths:
            continue
        if not path:
            doc = value if how == "replace" else doc
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if how == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


@settings(max_examples=200, **FUZZ)
@given(kind=st.sampled_from(["many_to_one", "seq2seq"]), edits=meta_edits)
@example(kind="many_to_one", edits=[(("data", "path"), "replace", "a\x00b")])  # found by fuzzing: exit 1
def test_fuzz_meta_json(runner, trained_runs, kind, edits):
    original = json.loads((trained_runs[kind] / "meta.json").read_text())
    work = scratch()
    try:
        run = work / "run"
        shutil.copytree(trained_runs[kind], run)
        (run / "meta.json").write_text(dump_json(edit_meta(original, edits)), encoding="utf-8")
        result = runner.invoke(app, ["predict", str(run)])
        check(result, {0, 3, 4}, f"predict RUN ({kind}) with meta.json edited by {shown(edits)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 2. config.yaml of train ----------------------------------------------------------------------------------------

VALID_KEYS = {
    "data": ["path", "date_column", "target", "features", "series_column", "series", "missing", "transform",
             "feature_transform", "scaler", "lookback", "horizon", "split", "calendar", "sep", "decimal",
             "date_format"],
    "model": ["kind", "hidden_size", "num_layers", "dropout", "proj_size", "teacher_forcing"],
    "training": ["optimizer", "learning_rate", "weight_decay", "batch_size", "epochs", "grad_clip", "patience", "loss",
                 "seed", "device", "threads", "amp"],
    "split": ["validation", "test"],
}
PLAUSIBLE = {  # valid or nearly valid values per key, to reach past validation into training
    "path": [str(CPI), "us_core_cpi_monthly.csv", str(DATA / "msft_daily_ohlcv.csv"), "/dev/zero", str(DATA), ""],
    "date_column": ["observation_date", "Date", "CPILFESL"], "target": ["CPILFESL", "observation_date", "cpilfesl"],
    "features": [[], ["CPILFESL"], ["observation_date"], ["x", "x"]], "series_column": ["CPILFESL", None],
    "series": ["28.5", None], "missing": ["error", "ffill", "drop"],
    "transform": ["none", "log", "log_return", "pct_change", "diff"], "feature_transform": ["none", "diff"],
    "scaler": ["standard", "minmax", "robust", "none"], "lookback": [1, 4, 700, 10_000], "horizon": [1, 3, 700],
    "split": [{"validation": 0.5, "test": 0.39}, {"validation": dt.date(2000, 1, 1), "test": dt.date(2010, 1, 1)},
              {"test": dt.date(1900, 1, 1)}, {"test": dt.date(2018, 10, 1)}],
    "calendar": ["XNYS", "XLON", "NOPE", None], "sep": [",", ";", "\t"], "decimal": [".", ","],
    "date_format": ["%Y-%m-%d", "%d/%m/%Y", "%", None],
    "kind": ["many_to_one", "seq2seq", "lstm"], "hidden_size": [1, 2, 3], "num_layers": [1, 2, 3],
    "dropout": [0.0, 0.5, 0.99], "proj_size": [0, 1], "teacher_forcing": [0.0, 1.0],
    "optimizer": ["adam", "adamw"], "learning_rate": [1e-9, 0.001, 10.0], "weight_decay": [0.0, 10.0],
    "batch_size": [0, 8, 256, 1_000_000], "epochs": [1], "grad_clip": [0.0, 1e6], "patience": [0, 1],
    "loss": ["mse", "mae", "huber"], "seed": [0, 2**63 - 1], "device": ["auto", "cpu", "cuda"], "threads": [1, 2],
    "amp": ["none", "bf16", "fp16"], "validation": [0.1, 0.89, dt.date(2000, 1, 1)],
    "test": [0.1, 0.89, dt.date(2010, 1, 1)],
}
HOSTILE_YAML = [
    "!!python/object/apply:os.system ['true']\n", "a: &a [1]\nb: *a\n", "data: {path: x, path: y}\n",
    "[" * 1500 + "]" * 1500, "{" * 1500 + "}" * 1500, "[" * 3000, "\ufeffdata: 1\n", "\x00", "data:\n\t- tab\n",
    "%YAML 2.0\n---\ndata: 1\n", "--- a\n--- b\n", "data: !!binary AAAA\n", "data: !!timestamp 2020-99-99\n",
    "data:\n  split:\n    test: 2020-02-30\n", "data: {lookback: !!int abc}\n", "model: !!set [1]\n",
    "training: !!map [1]\n", "? [1]\n: 2\n", "{[1]: 2}\n", "- data\n- model\n", "42\n", "'just a string'\n", "",
    "data: 1\n" * 1000, "data:\n  path: \"\\0\"\n  target: CPILFESL\nmodel: {kind: many_to_one}\n",
]

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**100), 10**100), st.sampled_from([0, -1, 1, 2, 3, 2**63, -(2**63)]),
    st.floats(), st.text(FILE_CHAR, max_size=30), st.sampled_from(YAML_TRAPS), st.dates(), st.datetimes(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(FILE_CHAR, max_size=10), children,
                                                                      max_size=4),
    max_leaves=8,
)
config_words = st.text(FILE_CHAR, max_size=15) | st.sampled_from(sum(VALID_KEYS.values(), []) + ["Data", "hiden_size"])


def section_of(doc: dict, name: str) -> Any:
    """The mapping a key of `name` lives in (None when the document no longer has one there)."""
    if name == "top":
        return doc
    if name == "split":
        data = doc.get("data")
        return data.setdefault("split", {}) if isinstance(data, dict) and isinstance(data.get("split", {}), dict) \
            else None
    section = doc.get(name)
    return section if isinstance(section, dict) else None


@st.composite
def config_texts(draw: Any) -> str:
    shape = draw(st.sampled_from(["raw", "hostile", "semi", "semi", "semi", "semi"]))
    if shape == "raw":
        return draw(st.text(FILE_CHAR, max_size=300))
    if shape == "hostile":
        return draw(st.sampled_from(HOSTILE_YAML))
    doc: dict = {
        "data": {"path": str(CPI), "date_column": "observation_date", "target": "CPILFESL", "lookback": 4,
                 "horizon": 1},
        "model": {"kind": draw(st.sampled_from(["many_to_one", "seq2seq"])), "hidden_size": 2, "num_layers": 1},
        "training": {"epochs": 1, "batch_size": 256, "threads": 1},
    }
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["unknown key", "wrong type", "plausible", "plausible", "delete", "section"]))
        name = draw(st.sampled_from(["data", "model", "training", "split", "top"] if operation == "unknown key"
                                    else ["data", "model", "training", "split"]))
        section = section_of(doc, name)
        if operation == "section":
            parent = doc if name != "split" else doc.get("data")
            if isinstance(parent, dict):
                parent[name] = draw(yaml_values)
        elif section is None:
            continue
        elif operation == "unknown key":
            section[draw(config_words)] = draw(yaml_values)
        elif operation == "delete":
            if section:
                del section[draw(st.sampled_from(sorted(section, key=str)))]
        else:
            key = draw(st.sampled_from(VALID_KEYS[name]))
            section[key] = draw(yaml_values if operation == "wrong type" or key not in PLAUSIBLE
                                else st.sampled_from(PLAUSIBLE[key]))
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False)


# Found by this test (exit 1), kept as explicit examples: YAML whose scalars cannot be constructed (an impossible date,
# an explicit tag on the wrong node or value, an integer of more than 4300 digits), and a NUL in data.path.
@settings(max_examples=100, **FUZZ)
@given(text=config_texts())
@example(text="data: {split: {test: 2020-02-30}}\n")
@example(text="model: !!set [1]\n")
@example(text="data: {lookback: !!int abc}\n")
@example(text="training: {seed: " + "9" * 4301 + "}\n")
@example(text='data: {path: "\\0", target: CPILFESL}\nmodel: {kind: many_to_one}\n')
def test_fuzz_train_config(runner, text):
    work = scratch()
    try:
        config = work / "config.yaml"
        config.write_bytes(text.encode("utf-8", "surrogateescape"))
        tiny = ["--set", "model.hidden_size=2", "--set", "training.epochs=1", "--set", "data.lookback=4",
                "--set", "data.horizon=1"]
        with Threads():
            result = runner.invoke(app, ["train", str(config), "--out", str(work / "run"), *tiny])
        check(result, {0, 2, 3, 5, 6, 7}, f"train CONFIG {' '.join(tiny)} with CONFIG =\n{shown(text)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 3. train --set KEY=VALUE ---------------------------------------------------------------------------------------

DOTTED = ([f"{section}.{key}" for section in ("data", "model", "training") for key in VALID_KEYS[section]]
          + [f"data.split.{key}" for key in VALID_KEYS["split"]])
KEY_TRAPS = ["data.features.0", "data.features.0.1", "data.split.0", "a.b.c.d.e", "data.split.test.x", "model.kind.x",
             "data.path.x", "data.lookback.0", ".", "..", "data.", ".data", " data . lookback ", "", "=", "data..x",
             "data", "model", "training", "__class__.__init__", "data.__dict__", "model.model_config", "DATA.PATH",
             "data.\x1b[31m", "data.path=", "training.epochs==1"]
key_words = st.one_of(st.sampled_from(["data", "model", "training", "split"] + sum(VALID_KEYS.values(), [])),
                      st.text(ARGV_CHAR, max_size=8), st.sampled_from(["0", "-1", " ", "*", "[0]", "a=b"]))
set_keys = st.one_of(st.sampled_from(DOTTED), st.sampled_from(KEY_TRAPS),
                     st.lists(key_words, min_size=1, max_size=7).map(".".join))
set_values = st.one_of(
    ARGV_TEXT, st.sampled_from(YAML_TRAPS), st.integers(-3, 3).map(str),
    st.sampled_from(["10**30", str(10**30), str(2**63), "-" + str(2**63 + 1), "9" * 5000]),
    st.lists(st.sampled_from(list("[]{},:'\"-?&*!|>#%@` a1")), max_size=20).map("".join),  # YAML flow-syntax soup
    st.integers(1, 1500).map(lambda n: "[" * n),
    st.sampled_from(PLAUSIBLE["calendar"] + PLAUSIBLE["transform"] + PLAUSIBLE["loss"] + ["CPILFESL", "[CPILFESL]",
                                                                                          str(CPI), "/dev/zero"]),
)


def as_argument(value: Any) -> str:
    """A plausible value as a user would type it after `=` (YAML flow syntax)."""
    return str(value) if isinstance(value, dt.date) else json.dumps(value, default=str)


# Half of the items are a real key with a plausible value, so that some commands get past validation and train.
plausible_sets = st.sampled_from([key for key in DOTTED if key.rsplit(".", 1)[-1] in PLAUSIBLE]).flatmap(
    lambda key: st.tuples(st.just(key), st.sampled_from(PLAUSIBLE[key.rsplit(".", 1)[-1]]).map(as_argument)))
set_items = st.one_of(plausible_sets, st.tuples(set_keys, set_values))


# Found by this test (exit 1), kept as explicit examples; each is typeable in a shell (the YAML parser makes the NUL).
@settings(max_examples=80, **FUZZ)
@given(sets=st.lists(set_items, min_size=1, max_size=3))
@example(sets=[("data.split.test", "2020-02-30")])
@example(sets=[("model.dropout", "!!set [1]")])
@example(sets=[("training.seed", "9" * 4301)])
@example(sets=[("data.path", '"\\0"')])
def test_fuzz_train_set(runner, sets):
    work = scratch()
    try:
        config = write_config(work / "config.yaml",
                              data={"path": str(CPI), "date_column": "observation_date", "target": "CPILFESL",
                                    "lookback": 4, "horizon": 1},
                              model={"kind": "many_to_one", "hidden_size": 2, "num_layers": 1},
                              training={"epochs": 1, "batch_size": 256, "threads": 1})
        args = ["train", str(config), "--out", str(work / "run"), "--epochs", "1",
                "--set", "model.hidden_size=2", "--set", "data.lookback=4", "--set", "data.horizon=1"]
        for key, value in sets:
            args += ["--set", f"{key}={value}"]
        with Threads():
            result = runner.invoke(app, args)
        check(result, {0, 2, 3}, f"train with {shown([f'{key}={value}' for key, value in sets])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 4. CSV cells (predict --data) ----------------------------------------------------------------------------------

ROWS = 40
CELL_TRAPS = [
    "", " ", '"', '""', '"a,b"', '"unterminated', "a\"b", ",", ";", "\t", "\r", "\r\n", "\n", "\x00", "\x1b[2J",
    "\x1b]0;pwned\x07", "\x1b" * 50, "\x7f", "\u2028", "\ufeff", "1e302", "-1e302", "1e15", "1e16", "1e-320",
    "inf", "-inf", "Infinity", "nan", "NaN", "NA", ".", "-", "0", "-1", "0x10", "1_000", "1,5", "１２３", "٣", "1e",
    "--1", "1" * 400, "9" * 5000, "2020-02-30", "2020-13-01", "9999-12-31", "0001-01-01", "2262-04-12",
    "1677-09-21", "2020-01-01T00:00:00+05:00", "2020-01-01 12:00", "2021-03-01 16:00:00", "1/2/2021", "20210104",
    "04.01.2021", "99999-01-01", "Date", "Close", "date", "close", "Close ", " Close",
]
LONG = ["A", "9", "\x1b", ",", '"', "\r", "é", "1e9"]
long_cells = st.builds(lambda text, count: text * count, st.sampled_from(LONG),
                       st.sampled_from([1_000, 50_000, 200_000]))  # up to ~200 KB in one cell
cell_texts = st.one_of(st.text(FILE_CHAR, max_size=20), st.sampled_from(CELL_TRAPS), long_cells)


def date_close_csv(path: Path, rows: int, *, start: str, seed: int) -> Path:
    dates = pd.bdate_range(start, periods=rows)
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, rows)))
    return write_csv(path, "Date,Close\n" + "".join(f"{d.date()},{p:.4f}\n" for d, p in zip(dates, prices)))


@pytest.fixture(scope="module")
def close_run(tmp_path_factory) -> Path:
    """A tiny many-to-one run trained on a synthetic Date,Close CSV of business days."""
    base = tmp_path_factory.mktemp("fuzz_close_run")
    csv = date_close_csv(base / "train.csv", 300, start="2019-01-01", seed=1)
    config = write_config(base / "c.yaml", data={"path": str(csv), "target": "Close", "lookback": 8, "horizon": 2},
                          model={"kind": "many_to_one", "hidden_size": 4, "num_layers": 1},
                          training={"epochs": 1, "threads": 1})
    with Threads():
        result = CliRunner().invoke(app, ["train", str(config), "--out", str(base / "run")])
    assert result.exit_code == 0, result.output
    return base / "run"


# Found by this test (exit 1), kept as an explicit example: two dates "-1" (pandas reads year -1; the duplicate-date
# message then asks that Timestamp for a Python date).
@settings(max_examples=150, **FUZZ)
@given(edits=st.lists(st.tuples(st.integers(-1, ROWS - 1), st.integers(0, 1), cell_texts), min_size=1, max_size=3))
@example(edits=[(0, 0, "-1"), (1, 0, "-1")])
def test_fuzz_csv_cells(runner, close_run, edits):
    dates = pd.bdate_range("2021-01-04", periods=ROWS)
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.01, ROWS)))
    table = [["Date", "Close"]] + [[str(d.date()), f"{p:.4f}"] for d, p in zip(dates, prices)]
    for row, column, text in edits:
        table[row + 1][column] = text  # row -1 is the header
    content = "".join(",".join(cells) + "\n" for cells in table)
    work = scratch()
    try:
        csv = work / "data.csv"
        csv.write_bytes(content.encode("utf-8", "surrogateescape"))  # \udc80-\udcff become bytes that are not UTF-8
        result = runner.invoke(app, ["predict", str(close_run), "--data", str(csv)])
        what = f"predict RUN --data CSV with cells (row, column, text) = {shown(edits)}"
        check(result, {0, 3}, what)
        assert len(result.output) < 20_000, f"{what}\noutput of {len(result.output):,} characters:\n" \
                                            f"{result.output[-2000:]}"
        assert "\x1b" not in result.output, f"{what}\nraw ESC in the output:\n{result.output[-2000:]!r}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
