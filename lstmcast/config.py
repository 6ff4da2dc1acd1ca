"""Typed, frozen run configuration: YAML in (safely), one line per problem out."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lstmcast.errors import ConfigError

Transform = Literal["none", "log", "log_return", "pct_change", "diff"]
Scaler = Literal["standard", "minmax", "robust", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SplitConfig(_Frozen):
    """Where validation and test begin: a fraction of the rows, or the first date of that split."""

    validation: Union[float, dt.date] = 0.15
    test: Union[float, dt.date] = 0.15

    @field_validator("validation", "test")
    @classmethod
    def _fraction_range(cls, value: float | dt.date) -> float | dt.date:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("a fraction must lie strictly between 0 and 1 (or give a date such as 2015-01-02)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SplitConfig":
        both_fractions = isinstance(self.validation, float) and isinstance(self.test, float)
        if both_fractions and self.validation + self.test >= 0.9:
            raise ValueError("validation + test must leave at least 10% of the rows for training")
        both_dates = isinstance(self.validation, dt.date) and isinstance(self.test, dt.date)
        if both_dates and self.validation >= self.test:
            raise ValueError("the validation start date must come before the test start date")
        return self


class DataConfig(_Frozen):
    path: Path
    date_column: str = "Date"
    target: str
    features: tuple[str, ...] = ()
    series_column: str | None = None
    series: str | None = None
    missing: Literal["error", "ffill", "drop"] = "error"
    transform: Transform = "log_return"
    feature_transform: Transform = "none"
    scaler: Scaler = "standard"
    lookback: int = Field(default=64, gt=0, le=10_000)
    horizon: int = Field(default=1, gt=0, le=1_000)
    split: SplitConfig = SplitConfig()
    sep: str = Field(default=",", min_length=1, max_length=1)
    decimal: str = Field(default=".", min_length=1, max_length=1)
    date_format: str | None = None

    @model_validator(mode="after")
    def _series_pair(self) -> "DataConfig":
        if self.series is not None and self.series_column is None:
            raise ValueError("data.series needs data.series_column (the column that holds the ids, e.g. Ticker)")
        if self.target in self.features:
            raise ValueError(f"the target {self.target!r} is always an input; remove it from data.features")
        if len(set(self.features)) != len(self.features):
            raise ValueError("data.features lists a column twice")
        return self


class _LSTMConfig(_Frozen):
    hidden_size: int = Field(default=64, gt=0, le=8192)
    num_layers: int = Field(default=2, gt=0, le=16)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    proj_size: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _proj_smaller(self) -> "_LSTMConfig":
        if self.proj_size >= self.hidden_size:
            raise ValueError("proj_size must be smaller than hidden_size (0 turns projection off)")
        return self


class ManyToOneConfig(_LSTMConfig):
    """A stacked LSTM whose last top-layer output feeds a linear head emitting the whole horizon."""

    kind: Literal["many_to_one"]


class Seq2SeqConfig(_LSTMConfig):
    """An encoder LSTM hands (h, c) to a decoder LSTM that emits the horizon one step at a time."""

    kind: Literal["seq2seq"]
    teacher_forcing: float = Field(default=0.5, ge=0.0, le=1.0)


ModelConfig = Annotated[Union[ManyToOneConfig, Seq2SeqConfig], Field(discriminator="kind")]


class TrainingConfig(_Frozen):
    optimizer: Literal["adam", "adamw"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    batch_size: int = Field(default=256, gt=0, le=1_000_000)
    epochs: int = Field(default=50, gt=0, le=100_000)
    grad_clip: float = Field(default=1.0, ge=0.0)
    patience: int = Field(default=10, ge=0)
    loss: Literal["mse", "mae", "huber"] = "mse"
    seed: int = Field(default=0, ge=0, lt=2**63)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, gt=0, le=1024)
    amp: Literal["none", "bf16", "fp16"] = "none"


class RunConfig(_Frozen):
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()


# ---------------------------------------------------------------- YAML: safe, no aliases, no duplicate keys


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that also refuses aliases (billion laughs) and duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.MarkedYAMLError(
                problem="YAML aliases (*name) are not allowed; write the value out", problem_mark=mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r}; keep one", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML with the strict safe loader; problems become one ConfigError naming file, line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from None
    raw = parse_yaml(text, source=str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with data:, model: and training: sections")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set a.b=value` overrides (values parsed as YAML scalars) to a raw config mapping."""
    result = _deep_copy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set training.epochs=5")
        parts = key.strip().split(".")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = parse_yaml(value, source=f"--set {key}")
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def build_config(raw: dict[str, Any], *, source: str, base_dir: Path | None = None) -> RunConfig:
    """Validate a raw mapping; every problem is one line with its dotted path (and the closest valid key)."""
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        raise ConfigError(f"{source}: {len(lines)} problem(s)\n" + "\n".join(f"  {line}" for line in lines)) from None
    if base_dir is not None and not config.data.path.is_absolute():
        data = config.data.model_copy(update={"path": (base_dir / config.data.path).resolve()})
        config = config.model_copy(update={"data": data})
    return config


def load_config(path: Path, overrides: list[str] | None = None, *, data_path: Path | None = None) -> RunConfig:
    """Read, override and validate a config; a relative data.path is taken relative to the config file, while
    `data_path` (a command-line --data) is taken as given, relative to the working directory."""
    raw = apply_overrides(read_config_file(path), overrides or [])
    if data_path is not None:
        raw.setdefault("data", {})["path"] = str(data_path.resolve())
    return build_config(raw, source=str(path), base_dir=path.parent)


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _describe(error: Any) -> str:
    loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    path = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        hint = _closest_key(error["loc"])
        return f"{path}: unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
    if error["type"] == "missing":
        return f"{path}: required"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in {"finite_number"}:
        message = "must be a finite number (NaN and infinity are refused)"
    return f"{path}: {message}"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and part in {"many_to_one", "seq2seq", "float", "date"}


def _closest_key(loc: tuple[Any, ...]) -> str | None:
    model: Any = RunConfig
    for part in loc[:-1]:
        if part in {"many_to_one", "seq2seq"}:
            model = ManyToOneConfig if part == "many_to_one" else Seq2SeqConfig
            continue
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else Seq2SeqConfig
    names = list(getattr(model, "model_fields", {}))
    matches = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return matches[0] if matches else None
