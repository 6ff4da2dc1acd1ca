"""YAML in (safely: no tags, aliases or duplicate keys), --set overrides, validation with one line per problem out."""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lstmcast.config.schema import ManyToOneConfig, RunConfig, Seq2SeqConfig
from lstmcast.errors import ConfigError, clean, quote
from lstmcast.files.reading import MiB, read_regular

MAX_CONFIG_BYTES = 1 * MiB
# The data keys that only say how to read a CSV: commands that use a trained model may change these (--set data.KEY).
TUNE_SECTION = "tune"  # lstmcast tune's search space (config.tune); a plain run trains the values written beside it
DATA_DIALECT_KEYS = ("sep", "decimal", "date_format", "missing", "date_column", "series_column", "series")


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
        if not isinstance(node, yaml.MappingNode):
            raise yaml.MarkedYAMLError(problem="expected a mapping here", problem_mark=node.start_mark)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.MarkedYAMLError(problem="keys must be plain words", problem_mark=key_node.start_mark)
            if key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {quote(key)}; keep one", problem_mark=key_node.start_mark
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
        raise ConfigError(f"{source}: not valid YAML ({quote(exc, limit=200)})") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    except (ValueError, TypeError, KeyError, OverflowError) as exc:  # a scalar PyYAML cannot build (2020-02-30)
        raise ConfigError(f"{source}: a value cannot be read ({clean(exc, limit=120)})") from None


def read_config_file(path: Path) -> dict[str, Any]:
    raw_bytes = read_regular(path, limit=MAX_CONFIG_BYTES, error=ConfigError, missing="no such config file")
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; is this a YAML config?") from None
    raw = parse_yaml(text, source=str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with data:, model: and training: sections")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set a.b=value` overrides to a raw config mapping. A value is read as a YAML scalar or list
    (`5`, `0.1`, `[Open, High]`, `2015-01-02`); one that is not valid YAML (`,` or `;`) is taken as plain text."""
    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(part.strip() for part in parts):
            raise ConfigError(f"--set {quote(item)}: expected SECTION.KEY=VALUE, e.g. --set training.epochs=5")
        if len(parts) > 4:
            raise ConfigError(f"--set {quote(item)}: config keys are at most 3 levels deep (e.g. data.split.test)")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {quote(item)}: {quote(part)} is a value, not a section")
            node = child
        node[parts[-1]] = _override_value(value, key=key.strip())
    return result


def _override_value(value: str, *, key: str) -> Any:
    try:
        return parse_yaml(value, source=f"--set {key}")
    except ConfigError:
        return value  # not YAML (e.g. `,`): the plain text, as a user typing --set data.decimal=, means


def with_data_overrides(raw: dict[str, Any], overrides: list[str], *, command: str) -> dict[str, Any]:
    """--set for commands that use a trained model: only the data keys that say how to read a CSV."""
    for item in overrides:
        key = item.partition("=")[0].strip()
        name = key.removeprefix("data.")
        if not key.startswith("data.") or name not in DATA_DIALECT_KEYS:
            raise ConfigError(
                f"--set {quote(key)}: {command} may set only how the CSV is read "
                f"({', '.join('data.' + k for k in DATA_DIALECT_KEYS)}); the model's other settings are fixed when "
                "it is trained"
            )
    return apply_overrides(raw, overrides)


def build_config(raw: dict[str, Any], *, source: str, base_dir: Path | None = None) -> RunConfig:
    """Validate a raw mapping; every problem is one line with its dotted path (and the closest valid key)."""
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        shown = lines[:20] + ([f"... and {len(lines) - 20} more"] if len(lines) > 20 else [])
        raise ConfigError(f"{source}: {len(lines)} problem(s)\n" + "\n".join(f"  {line}" for line in shown)) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    if base_dir is not None and not config.data.path.is_absolute():
        data = config.data.model_copy(update={"path": (base_dir / config.data.path).resolve()})
        config = config.model_copy(update={"data": data})
    return config


def load_config(path: Path, overrides: list[str] | None = None, *, data_path: Path | None = None) -> RunConfig:
    """Read, override and validate a config; a relative data.path is taken relative to the config file, while
    `data_path` (a command-line --data) is taken as given, relative to the working directory."""
    if data_path is not None and str(data_path) == "-":
        raise ConfigError("--data - (standard input) is for predict and dump-states; train and backtest read their "
                          "CSV again later (resume, refits), so give a file")
    raw = apply_overrides(read_config_file(path), overrides or [])
    raw.pop(TUNE_SECTION, None)
    if data_path is not None:
        if not isinstance(raw.get("data"), dict):
            raw["data"] = {}
        raw["data"]["path"] = str(data_path.resolve())
    return build_config(raw, source=str(path), base_dir=path.parent)


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _describe(error: Any) -> str:
    loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    path = ".".join(clean(part) for part in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        hint = _closest_key(error["loc"])
        return f"{path}: unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
    if error["type"] == "missing":
        return f"{path}: required"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in {"finite_number"}:
        message = "must be a finite number (NaN and infinity are refused)"
    if not loc and re.match(r"[a-z_]+\.[a-z_.]+: ", message):  # a check across sections names its own key
        return clean(message, limit=240)
    return f"{path}: {clean(message, limit=200)}"


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

