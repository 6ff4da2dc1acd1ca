"""What a backtest scores: run directories and configs, opened side by side with unique names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from lstmcast.config import RunConfig, build_config, load_config, with_data_overrides
from lstmcast.data.reading import Series, load_series_for
from lstmcast.errors import ConfigError, quote
from lstmcast.runs.load import Run, open_run, run_data


@dataclass
class Source:
    name: str
    config: RunConfig
    series: Series
    run: Optional[Run] = None  # when the source is a run directory


def open_sources(paths: Sequence[Path], *, names: Sequence[str], reserved: Sequence[str], data_path: Optional[Path],
                 overrides: Sequence[str], notice: Callable[[str], None]) -> list[Source]:
    """Each path a run directory or a YAML config, named by `names` in order (else by its file name, made unique);
    names may not take a `reserved` one (the baselines'); all must forecast one target."""
    if len(names) > len(paths):
        raise ConfigError(f"{len(names)} --name values for {len(paths)} source(s); give at most one name per run or "
                          "config, in order")
    taken = set(reserved) & set(names) or {n for n in names if names.count(n) > 1}
    if taken:
        raise ConfigError(f"--name {quote(sorted(taken)[0])}: names must differ from each other and from the "
                          f"baselines ({', '.join(reserved)})")
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


def _refuse_panel(is_panel: bool, path: Path) -> None:
    if is_panel:
        raise ConfigError(f"{quote(path)}: a panel (several series, one model); backtest walks one series forward "
                          "and does not take panels yet. The panel run's own test scores are per series and pooled "
                          "(train prints them; meta.json keeps them); to backtest one series, set data.series to it")


def _open(path: Path, data_path: Optional[Path], overrides: list[str], notice: Callable[[str], None]) -> Source:
    if path.is_dir():
        run = open_run(path)
        _refuse_panel(run.config.data.is_panel, path)
        for message in run.notices:
            notice(message)
        series, _ = run_data(run, data_path, overrides=overrides, command="backtest")
        return Source(path.name, run.config, series, run)
    if path.suffix in {".yaml", ".yml"}:
        config = load_config(path, data_path=data_path)
        if overrides:
            raw = with_data_overrides(config.model_dump(mode="json"), overrides, command="backtest")
            config = build_config(raw, source=str(path))
        _refuse_panel(config.data.is_panel, path)
        return Source(path.stem, config, load_series_for(config.data))
    raise ConfigError(f"{quote(path)}: neither a run directory nor a .yaml config")
