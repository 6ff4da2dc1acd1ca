"""A config's `tune:` section: the search space of `lstmcast tune`, as ranges or choices of ordinary config keys.

    tune:
      model.hidden_size: {choices: [16, 32, 64]}
      training.learning_rate: {low: 0.0003, high: 0.01, log: true}
      data.lookback: {low: 12, high: 48, step: 12}

Every bound and choice is checked, now, by building the config it gives, so a trial never meets a value that the
schema refuses; a key that would make trials incomparable (another target, horizon, split or data) is refused."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Optional

from lstmcast.config.loading import TUNE_SECTION, build_config
from lstmcast.errors import ConfigError, clean

# What every trial must share, or the trials are not scored on the same thing.
FIXED = {"data.path", "data.date_column", "data.target", "data.series_column", "data.series", "data.layout",
         "data.sep", "data.decimal", "data.date_format", "data.missing", "data.horizon", "data.split.validation",
         "data.split.test", "data.calendar", "training.device", "training.threads", "training.final"}
# What changes the scale or meaning of the validation loss: fine for a score in the user's units.
LOSS_SCALE = {"data.transform", "data.scaler", "training.loss", "model.head.kind", "model.head.levels"}
SPEC_KEYS = {"low", "high", "log", "step", "choices"}


@dataclass(frozen=True)
class Dimension:
    key: str  # a dotted config key
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: Optional[tuple[Any, ...]] = None

    @property
    def integer(self) -> bool:
        """Integer bounds (and step) sample integers."""
        values = (self.low, self.high) + ((self.step,) if self.step is not None else ())
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool) for v in values)

    def extremes(self) -> list[Any]:
        return list(self.choices) if self.choices is not None else [self.low, self.high]


def split_tune(raw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The config without its tune section, and the section (None when absent)."""
    rest = {key: value for key, value in raw.items() if key != TUNE_SECTION}
    return rest, raw.get(TUNE_SECTION)


def read_space(section: Any, base: dict[str, Any], *, source: str, objective: str) -> list[Dimension]:
    """The dimensions of a tune section, each checked against the base config at every bound and choice."""
    if not isinstance(section, dict) or not section:
        raise ConfigError(f"{source}: tune: give a mapping of config keys to ranges or choices, e.g. "
                          "tune: {model.hidden_size: {choices: [16, 32]}}")
    dimensions = [_dimension(str(key), spec, source) for key, spec in section.items()]
    for dimension in dimensions:
        _check_key(dimension.key, source, objective)
        for value in dimension.extremes():
            try:
                build_config(trial_raw(base, {dimension.key: value}), source=source)
            except ConfigError as exc:
                problem = str(exc).split("\n", 1)[-1].strip()
                raise ConfigError(f"{source}: tune.{dimension.key}: the value {clean(value)} gives an invalid "
                                  f"config ({problem})") from None
    return dimensions


def trial_raw(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The base config with a trial's values (set as values, not re-read from text)."""
    raw = copy.deepcopy(base)
    for key, value in values.items():
        *sections, name = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ConfigError(f"tune.{key}: {section} is a value in the config, not a section")
        node[name] = value
    return raw


def _dimension(key: str, spec: Any, source: str) -> Dimension:
    where = f"{source}: tune.{clean(key)}"
    if not isinstance(spec, dict) or not spec or set(spec) - SPEC_KEYS:
        raise ConfigError(f"{where}: give {{low: A, high: B}} (with log: true or step: S if wanted) or "
                          "{choices: [A, B, ...]}")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: choices is a non-empty list, alone (no low/high)")
        if any(isinstance(choice, (dict, list)) for choice in choices) or len(set(map(repr, choices))) < len(choices):
            raise ConfigError(f"{where}: choices are distinct plain values (numbers, words, true/false)")
        return Dimension(key, choices=tuple(choices))
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    if not all(_number(v) for v in (low, high)) or not isinstance(log, bool):
        raise ConfigError(f"{where}: low and high are numbers (log: true or false)")
    if not low < high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    if log and (low <= 0 or step is not None):
        raise ConfigError(f"{where}: a log range needs low > 0 and no step")
    if step is not None and (not _number(step) or step <= 0 or step > high - low):
        raise ConfigError(f"{where}: step is a positive number no larger than high - low")
    return Dimension(key, low=low, high=high, log=log, step=step)


def _check_key(key: str, source: str, objective: str) -> None:
    if key in FIXED:
        raise ConfigError(f"{source}: tune.{key}: every trial must share it (the same data, target, horizon and "
                          "splits), so it cannot be tuned; run one sweep per setting")
    if key in LOSS_SCALE and objective == "validation":
        raise ConfigError(f"{source}: tune.{key}: it changes what the validation loss measures, so trials could not "
                          "be compared on it; tune it with --objective backtest (scored in your units)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) < 1e300
