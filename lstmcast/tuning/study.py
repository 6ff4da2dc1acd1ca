"""The Optuna study of a sweep directory. By default its journal file lives in the directory (no server; several
`lstmcast tune` processes on one machine or a shared file system append to it under Optuna's own lock); any Optuna
database URL serves a cluster, the sweep directory then shared by every process as well. A trial whose process died
(kill -9, a lost node) is failed and enqueued again with its run directory, whose checkpoint the retry resumes: a
process owns its trial by the lock on the trial's run directory, and a lock dies with its process."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from lstmcast.config.tune import Dimension
from lstmcast.errors import ConfigError
from lstmcast.files.locks import held_elsewhere

JOURNAL = "study.journal"
PRUNERS = ("median", "hyperband", "none")
NEWBORN = dt.timedelta(minutes=10)  # a trial not yet owned is being claimed, or its process died this long ago
DATABASES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


@dataclass
class Sweep:
    study: Any  # optuna.Study
    storage: Any  # its storage
    folder: Path


def open_study(folder: Path, *, storage: Optional[str], name: str, seed: Optional[int], base_seed: int,
               pruner: str, fresh: bool = False) -> Sweep:
    """Create or join the study (with `fresh`, a database's study of that name is deleted first). TPE is seeded with
    `seed` (or the config's seed and this process's id, so that processes started together do not draw the same
    points) plus the trials already in the study, so a resumed sweep draws new points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        backend: Any = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    elif storage.split(":", 1)[0].split("+", 1)[0] in DATABASES:
        backend = optuna.storages.RDBStorage(storage)
        if fresh and name in optuna.get_all_study_names(backend):
            optuna.delete_study(study_name=name, storage=backend)
    else:
        raise ConfigError(f"--storage {storage.split(':', 1)[0]}:...: give a database URL Optuna supports "
                          "(postgresql://, mysql://, sqlite:///), or leave --storage out for the sweep's journal file")
    study = optuna.create_study(study_name=name, storage=backend, load_if_exists=True, direction="minimize",
                                pruner=_pruner(pruner))
    offset = seed if seed is not None else base_seed + os.getpid()
    study.sampler = optuna.samplers.TPESampler(seed=(offset + len(study.trials)) % 2**32, constant_liar=True)
    return Sweep(study, backend, folder)


def suggest(trial: Any, dimension: Dimension) -> Any:
    """A trial's value for one dimension (fixed when the trial was enqueued, as a retry is)."""
    key = dimension.key
    if dimension.choices is not None:
        return trial.suggest_categorical(key, list(dimension.choices))
    if dimension.integer:
        return trial.suggest_int(key, dimension.low, dimension.high, step=dimension.step or 1, log=dimension.log)
    return trial.suggest_float(key, float(dimension.low), float(dimension.high), step=dimension.step,
                               log=dimension.log)


def progress(sweep: Sweep) -> tuple[int, int]:
    """(finished, running) from one read of the study. Finished trials count toward --trials: complete, pruned, or
    failed by an error of their own (not by a process that died: those are retried)."""
    from optuna.trial import TrialState

    trials = sweep.study.get_trials(deepcopy=False)
    done = sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and "error" in t.user_attrs))
    return done, sum(1 for t in trials if t.state == TrialState.RUNNING)


def retry(sweep: Sweep, trial: Any, keep: dict[str, Any]) -> None:
    """Enqueue a trial's parameters again, with the attributes that let the retry resume its run."""
    sweep.study.enqueue_trial(trial.params, user_attrs=keep | {"retry_of": trial.number})


def reclaim(sweep: Sweep, resolve: Callable[[str], Path], notice: Callable[[str], None]) -> None:
    """Fail the running trials whose process is gone and enqueue each again with its parameters and run directory.
    Gone: the trial is owned (its process took the run's lock, then said so) and the lock is free; or it was never
    owned and started long ago. Several processes may race here: the storage lets one win."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, now = sweep.storage, dt.datetime.now()
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, owned = trial.user_attrs.get("run_dir"), trial.user_attrs.get("owner")
        if owned is None and now - (trial.datetime_start or now) < NEWBORN:
            continue
        if owned is not None and where is not None and held_elsewhere(resolve(where)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(sweep.study.study_name), trial.number)
        try:
            storage.set_trial_user_attr(trial_id, "process_died", True)
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another process reclaimed it first, or it has just finished
            continue
        retry(sweep, trial, {key: value for key, value in trial.user_attrs.items() if key in ("run_dir", "pruned_at")})
        notice(f"trial {trial.number} stopped with its process; it is retried"
               + (f", resuming {where}" if where else ""))


def _pruner(name: str) -> Any:
    import optuna

    if name not in PRUNERS:
        raise ConfigError(f"--pruner {name}: choose one of {', '.join(PRUNERS)}")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=5)
    return optuna.pruners.NopPruner()
