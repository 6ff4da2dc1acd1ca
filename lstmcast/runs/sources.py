"""What a backtest scores: run directories and configs, opened side by side with unique names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from lstmcast.config import RunConfig, build_config, load_config, with_data_overrides
from lstmcast.data.panel import Panel, load_panel
from lstmcast.data.reading import Series, load_series_for
from lstmcast.errors import ConfigError, DataError, ModelFileError, quote
from lstmcast.runs.load import Run, is_panel_run, open_run, run_panel, run_series


@dataclass
class Source:
    name: str
    config: RunConfig
    series: Series
    run: Optional[Run] = None  # when the source is a run directory


@dataclass
class PanelSource:
    name: str
    config: RunConfig
    panel: Panel
    run: Optional[Run] = None


def is_panel_source(path: Path) -> bool:
    """Whether a backtest source (run directory or config) holds a panel; unreadable ones say no (and are refused
    with their own message when opened)."""
    try:
        if path.is_dir():
            return is_panel_run(path)
        return path.suffix in {".yaml", ".yml"} and load_config(path).data.is_panel
    except (ConfigError, DataError, ModelFileError, OSError):
        return False


def open_panel_sources(paths: Sequence[Path], *, names: Sequence[str], reserved: Sequence[str],
                       data_path: Optional[Path], overrides: Sequence[str],
                       notice: Callable[[str], None]) -> list[PanelSource]:
    """Panel runs and configs, named as open_sources names single ones; all must read the same file."""
    _check_names(paths, names, reserved)
    sources, seen = [], set(reserved)
    for index, path in enumerate(paths):
        source = _open_panel(path, data_path, list(overrides), notice)
        source.name = names[index] if index < len(names) else source.name
        while source.name in seen:
            source.name += "'"
        seen.add(source.name)
        sources.append(source)
    if len({s.panel.sha256 for s in sources}) > 1 or len({s.config.data.target for s in sources}) > 1:
        raise ConfigError("the panels read different files or targets; a panel backtest compares models on one panel")
    return sources


def _open_panel(path: Path, data_path: Optional[Path], overrides: list[str],
                notice: Callable[[str], None]) -> PanelSource:
    if path.is_dir():
        run = open_run(path)
        if run.meta.panel is None:
            raise ConfigError(f"{quote(path)} holds one series; a panel backtest takes panel runs and configs only "
                              "(backtest single-series sources on their own)")
        for message in run.notices:
            notice(message)
        panel = run_panel(run, data_path, overrides=overrides, command="backtest", only=list(run.meta.panel.series))
        return PanelSource(path.name, run.config, panel, run)
    config = _config(path, data_path, overrides)
    if not config.data.is_panel:
        raise ConfigError(f"{quote(path)} describes one series; a panel backtest takes panel runs and configs only")
    panel = load_panel(config.data)
    for message in panel.notices:
        notice(message)
    return PanelSource(path.stem, config, panel)


def open_sources(paths: Sequence[Path], *, names: Sequence[str], reserved: Sequence[str], data_path: Optional[Path],
                 overrides: Sequence[str], notice: Callable[[str], None]) -> list[Source]:
    """Each path a run directory or a YAML config, named by `names` in order (else by its file name, made unique);
    names may not take a `reserved` one (the baselines'); all must forecast one target."""
    _check_names(paths, names, reserved)
    sources, seen = [], set(reserved)
    for index, path in enumerate(paths):
        source = _open(path, data_path, list(overrides), notice)
        if index < len(names):
            source.name = names[index]
        while source.name in seen:
            source.name += "'"
        seen.add(source.name)
        sources.append(source)
    targets = {s.config.data.target for s in sources}
    if len(targets) > 1:
        raise ConfigError(f"the models forecast different columns ({', '.join(sorted(targets))}); backtest one target")
    return sources


def _check_names(paths: Sequence[Path], names: Sequence[str], reserved: Sequence[str]) -> None:
    if len(names) > len(paths):
        raise ConfigError(f"{len(names)} --name values for {len(paths)} source(s); give at most one name per run or "
                          "config, in order")
    taken = set(reserved) & set(names) or {n for n in names if names.count(n) > 1}
    if taken:
        raise ConfigError(f"--name {quote(sorted(taken)[0])}: names must differ from each other and from the "
                          f"baselines ({', '.join(reserved)})")


def _config(path: Path, data_path: Optional[Path], overrides: list[str]) -> RunConfig:
    if path.suffix not in {".yaml", ".yml"}:
        raise ConfigError(f"{quote(path)}: neither a run directory nor a .yaml config")
    config = load_config(path, data_path=data_path)
    if overrides:
        raw = with_data_overrides(config.model_dump(mode="json"), overrides, command="backtest")
        config = build_config(raw, source=str(path))
    return config


def _refuse_panel(is_panel: bool, path: Path) -> None:
    if is_panel:
        raise ConfigError(f"{quote(path)}: a panel (several series, one model) is backtested with other panels of "
                          "the same file, not beside single-series sources; give the panels alone, or set "
                          "data.series to one series to backtest it as a single series")


def _open(path: Path, data_path: Optional[Path], overrides: list[str], notice: Callable[[str], None]) -> Source:
    if path.is_dir():
        run = open_run(path)
        _refuse_panel(run.config.data.is_panel, path)
        for message in run.notices:
            notice(message)
        series = run_series(run, data_path, overrides=overrides, command="backtest")
        return Source(path.name, run.config, series, run)
    config = _config(path, data_path, overrides)
    _refuse_panel(config.data.is_panel, path)
    return Source(path.stem, config, load_series_for(config.data))
