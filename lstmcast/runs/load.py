"""Open a run directory checked against itself: meta.json validated, config.yaml and the weights matched to the
hashes it records, the config consistent with it, and the weights the model's own, finite and floating point."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, TypeVar

import torch
from torch import nn

from lstmcast.config import DataConfig, RunConfig, build_config, parse_yaml, with_data_overrides
from lstmcast.data.calendar import Calendar, check_frequency
from lstmcast.data.panel import Panel, load_panel
from lstmcast.data.reading import Series, load_series_for
from lstmcast.data.scalers import Scaler
from lstmcast.data.panelprep import prepare_panel
from lstmcast.data.windows import Prepared, prepare
from lstmcast.errors import ConfigError, DataError, ModelFileError
from lstmcast.files.atomic import recover
from lstmcast.files.reading import MiB, read_regular
from lstmcast.models.inputs import InputLayout
from lstmcast.models.lstm import build_model
from lstmcast.runs.layout import CONFIG_FILE, META_FILE, MODEL_FILE, partial_dir
from lstmcast.runs.meta import RunMeta, read_meta
from lstmcast.runs.store import check_header, load_weights

T = TypeVar("T")
MAX_MODEL_BYTES = 4 * 2**30  # far beyond any LSTM forecaster; a larger "model" is something else


@dataclass
class Run:
    path: Path
    config: RunConfig
    meta: RunMeta
    model: nn.Module  # in eval mode, on the CPU
    notices: list[str] = field(default_factory=list)

    @property
    def calendar(self) -> Calendar:
        return Calendar(self.meta.frequency, self.meta.calendar)

    @property
    def is_panel(self) -> bool:
        return self.meta.panel is not None

    @property
    def scaler(self) -> Scaler:
        """A single-series run's scaler (a panel's series each have their own: `scalers`)."""
        if self.meta.scaler is None:
            raise ModelFileError(f"{self.path} is a panel run: each series has its own scaler")
        return _scaler(self.meta.scaler)

    @property
    def scalers(self) -> dict[str, Scaler]:
        """A panel run's scaler of each series."""
        if self.meta.panel is None:
            raise ModelFileError(f"{self.path} is a single-series run: it has one scaler")
        return {name: _scaler(member.scaler) for name, member in self.meta.panel.series.items()}


def _scaler(meta) -> Scaler:
    return Scaler.from_lists(meta.kind, meta.center, meta.scale)


def open_run(run_dir: Path) -> Run:
    """Config, metadata and weights of a run directory; refuses anything inconsistent with a ModelFileError."""
    recover(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        hint = f" (a config? train it first: lstmcast train {run_dir} --out runs/NAME)" \
            if run_dir.suffix in (".yaml", ".yml") else ""
        raise ModelFileError(f"{run_dir}: a file, not a run directory written by `lstmcast train`{hint}")
    if not run_dir.is_dir():
        partial = partial_dir(run_dir)
        hint = f" ({partial} holds an unfinished run: resume it with `lstmcast train --resume {run_dir}`)" \
            if partial.is_dir() else ""
        raise ModelFileError(f"{run_dir}: no such run directory{hint}")
    meta = read_meta(run_dir / META_FILE)
    config_bytes = read_regular(run_dir / CONFIG_FILE, limit=MiB, error=ModelFileError,
                                missing="missing; is this a run directory written by `lstmcast train`?")
    notices = []
    check_header(run_dir / MODEL_FILE)  # first, so a pickle or an LFS pointer is named as such
    if meta.verified:
        _check_hash(run_dir / CONFIG_FILE, config_bytes, meta.config_sha256, "edited after training")
        _check_digest(run_dir / MODEL_FILE, _file_sha256(run_dir / MODEL_FILE), meta.weights_sha256,
                      "replaced after training")
    else:
        notices.append(f"{run_dir} was written by lstmcast {meta.lstmcast_version}, which did not record hashes: its "
                       "config.yaml and weights cannot be checked against meta.json")
    if meta.format_version == 2:
        notices.append(f"{run_dir} was written by lstmcast {meta.lstmcast_version}, which did not seal meta.json: an "
                       "edit to its scaler or dates could not be detected; retrain to be sure")
    config = _config(run_dir / CONFIG_FILE, config_bytes)
    _check_consistent(run_dir, config, meta)
    model = _model(run_dir / MODEL_FILE, config, meta)
    return Run(run_dir, config, meta, model, notices)


def _file_sha256(path: Path) -> str:
    """Hashed in chunks, and only up to MAX_MODEL_BYTES: a huge file must not fill the memory to be refused."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_MODEL_BYTES:
                raise ModelFileError(f"{path}: {size / 2**30:,.1f} GiB, larger than any model lstmcast writes "
                                     f"({MAX_MODEL_BYTES / 2**30:.0f} GiB at most); is this the run's own file?")
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; is this a run directory written by `lstmcast train`?") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None


def _check_hash(path: Path, content: bytes, expected: Optional[str], what: str) -> None:
    _check_digest(path, hashlib.sha256(content).hexdigest(), expected, what)


def _check_digest(path: Path, digest: str, expected: Optional[str], what: str) -> None:
    if digest != expected:
        raise ModelFileError(f"{path}: does not match the SHA-256 recorded in meta.json (it was {what}), so its "
                             "forecasts would not be the trained model's; restore it, or retrain")


def _config(path: Path, content: bytes) -> RunConfig:
    try:
        return build_config(parse_yaml(content.decode("utf-8"), source=str(path)), source=str(path))
    except (ConfigError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"the run's config is invalid: {exc}") from None


def _check_consistent(run_dir: Path, config: RunConfig, meta: RunMeta) -> None:
    data = config.data
    facts = {"columns": (data.columns, meta.columns), "lookback": (data.lookback, meta.lookback),
             "horizon": (data.horizon, meta.horizon), "model kind": (config.model.kind, meta.model_kind),
             "scaler": (data.scaler, meta.scaler.kind if meta.scaler else
                        next(iter(meta.panel.series.values())).scaler.kind),  # type: ignore[union-attr]
             "panel": (data.is_panel, meta.panel is not None),
             "transforms": ([data.transform] + [data.feature_transform] * len(data.features),
                            [meta.transforms[name] for name in meta.columns])}
    differ = [name for name, (a, b) in facts.items() if a != b]
    if differ:
        raise ModelFileError(f"{run_dir}: config.yaml and meta.json disagree on {', '.join(differ)}; the run was "
                             "edited after training: restore it, or retrain")


def _model(path: Path, config: RunConfig, meta: RunMeta) -> nn.Module:
    weights = load_weights(path)
    statics = meta.panel.statics if meta.panel else {}
    layout = InputLayout.of(config, tuple(len(statics[name]) for name in config.data.static_covariates))
    model = build_model(config.model, layout=layout, horizon=meta.horizon, loss=config.training.loss)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        first = lines[1].strip() if len(lines) > 1 else str(exc)
        raise ModelFileError(f"{path}: the weights do not fit the run's config ({first[:200]})") from None
    if not all(bool(torch.isfinite(v).all()) for v in weights.values()):
        raise ModelFileError(f"{path}: the weights contain NaN or infinity; retrain")
    return model.eval()


def run_series(run: Run, data_path: Optional[Path] = None, *, overrides: Optional[list[str]] = None,
               command: str = "this command") -> Series:
    """A CSV with the run's columns (by name, any order), checked against the run's calendar. `overrides` may change
    how the CSV is read (--set data.sep=...), never what the model sees."""
    data = reading_config(run, overrides, command)
    series = _read(run, data_path, lambda path, show: load_series_for(data, path, show_header=show))
    check_frequency(series.dates, run.calendar, what=str(series.path))
    return series


def run_data(run: Run, data_path: Optional[Path] = None, *, overrides: Optional[list[str]] = None,
             command: str = "this command") -> tuple[Series, Prepared]:
    """run_series, scaled with the run's own scaler."""
    series = run_series(run, data_path, overrides=overrides, command=command)
    return series, prepare(series, run.config.data, scaler=run.scaler, calendar=run.calendar)


def is_panel_run(run_dir: Path) -> bool:
    """Whether a run directory holds a panel model (read from meta.json alone; open_run checks everything else)."""
    return (run_dir / META_FILE).is_file() and read_meta(run_dir / META_FILE).panel is not None


def chosen_series(run: Run, names: Optional[list[str]]) -> list[str]:
    """A panel run's series `names` (default: every series it was trained on); one the model has no scaler for is
    refused with the reason."""
    trained = run.meta.panel.series  # type: ignore[union-attr]
    for name in names or []:
        if name not in trained:
            why = run.meta.panel.skipped.get(name)  # type: ignore[union-attr]
            reason = f"skipped in training: {why}" if why else "the model has no scaler for it"
            raise ConfigError(f"--series {name}: not a series of this panel run, which holds "
                              f"{', '.join(list(trained)[:20])}{', ...' if len(trained) > 20 else ''} ({reason})")
    return list(names or trained)


def run_panel(run: Run, data_path: Optional[Path] = None, *, overrides: Optional[list[str]] = None,
              command: str = "this command", only: list[str]) -> Panel:
    """A panel run's series `only`, read as run_data reads one series (each checked against the run's calendar)."""
    data = reading_config(run, overrides, command)
    panel = _read(run, data_path, lambda path, show: load_panel(data, path, show_header=show, only=only))
    for member in panel.members.values():
        check_frequency(member.dates, run.calendar, what=member.where)
    return panel


def run_members(run: Run, names: list[str], data_path: Optional[Path] = None, *,
                overrides: Optional[list[str]] = None,
                command: str = "this command") -> dict[str, tuple[Series, Prepared]]:
    """Series of a panel run (the CSV read once), each prepared as the model saw it: its own scaler and static
    covariate codes."""
    panel = run_panel(run, data_path, overrides=overrides, command=command, only=names)
    prepared, _ = prepare_panel(panel, run.config.data, scalers=run.scalers, calendar=run.calendar,
                                statics=run.meta.panel.statics)  # type: ignore[union-attr]
    return {name: (series, prepared.members[name]) for name, series in panel.members.items()}


def reading_config(run: Run, overrides: Optional[list[str]], command: str) -> DataConfig:
    """The run's data config, with `overrides` of how to read the CSV."""
    if not overrides:
        return run.config.data
    raw = with_data_overrides(run.config.model_dump(mode="json"), overrides, command=command)
    return build_config(raw, source="--set").data


def _read(run: Run, data_path: Optional[Path], reader: Callable[[Path, bool], T]) -> T:
    """The CSV given (its first line may be shown in errors) or the run's own (it may not: meta.json named it)."""
    try:
        return reader(data_path or Path(run.meta.data.path), data_path is not None)
    except DataError as exc:
        raise DataError(f"{exc} (the model needs the columns {', '.join(run.meta.columns)})") from None
