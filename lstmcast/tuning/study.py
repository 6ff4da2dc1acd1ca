"""The Optuna study of a sweep directory. By default its journal file lives in the directory (no server; several
`lstmcast tune` processes on one machine or a shared file system append to it under Optuna's own lock); any Optuna
storage URL serves a cluster. A trial whose process died (kill -9, a lost node) is failed and enqueued again with
its run directory, whose checkpoint the retry resumes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from lstmcast.config.tune import Dimension
from lstmcast.errors import ConfigError
from lstmcast.files.locks import held_elsewhere

JOURNAL = "study.journal"
PRUNERS = ("median", "hyperband", "none")
NEWBORN = dt.timedelta(seconds=60)  # a trial not yet naming its run directory is young, or its process died


@dataclass
class Sweep:
    study: Any  # optuna.Study
    storage: Any  # its storage
    folder: Path
    journal: bool  # False: a storage URL (its heartbeats find dead trials)


def open_study(folder: Path, *, storage: Optional[str], name: str, seed: int, pruner: str) -> Sweep:
    """Create or join the study. The sampler (TPE) is seeded with `seed` plus the trials already in the study, so a
    resumed sweep draws new points rather than repeating the first ones."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        backend: Any = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    elif storage.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql", "oracle", "mssql"):
        from optuna.storages import RDBStorage, RetryFailedTrialCallback

        backend = RDBStorage(storage, heartbeat_interval=60, grace_period=180,
                             failed_trial_callback=RetryFailedTrialCallback(max_retry=3))
    else:
        raise ConfigError(f"--storage {storage.split(':', 1)[0]}:...: give a database URL Optuna supports "
                          "(postgresql://, mysql://, sqlite:///), or leave --storage out for the sweep's journal file")
    study = optuna.create_study(study_name=name, storage=backend, load_if_exists=True, direction="minimize",
                                pruner=_pruner(pruner))
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), constant_liar=True)
    return Sweep(study, backend, folder, journal=storage is None)


def suggest(trial: Any, dimension: Dimension) -> Any:
    """A trial's value for one dimension (fixed when the trial was enqueued, as a retry is)."""
    key = dimension.key
    if dimension.choices is not None:
        return trial.suggest_categorical(key, list(dimension.choices))
    if dimension.integer:
        return trial.suggest_int(key, dimension.low, dimension.high, step=dimension.step or 1, log=dimension.log)
    return trial.suggest_float(key, float(dimension.low), float(dimension.high), step=dimension.step,
                               log=dimension.log)


def finished(sweep: Sweep) -> int:
    """Trials that count toward --trials: complete, pruned, or failed by an error of their own (not by a process
    that died: those are retried)."""
    from optuna.trial import TrialState

    return sum(1 for t in sweep.study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and "error" in t.user_attrs))


def running(sweep: Sweep) -> int:
    from optuna.trial import TrialState

    return len(sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def reclaim(sweep: Sweep, resolve: Callable[[str], Path], notice: Callable[[str], None]) -> None:
    """Fail the running trials whose process is gone (their run directory's lock is free) and enqueue each again
    with its parameters and run directory. Several processes may race here: the storage lets one win."""
    if not sweep.journal:
        return  # a storage URL: Optuna's heartbeats fail them, and RetryFailedTrialCallback enqueues them again
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, now = sweep.storage, dt.datetime.now()
    for trial in sweep.study.get_trials(states=(TrialState.RUNNING,)):
        where = trial.user_attrs.get("run_dir")
        if where is None and now - (trial.datetime_start or now) < NEWBORN:
            continue
        if where is not None and held_elsewhere(resolve(where)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(sweep.study.study_name), trial.number)
        try:
            storage.set_trial_user_attr(trial_id, "process_died", True)
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another process reclaimed it first
            continue
        sweep.study.enqueue_trial(trial.params, user_attrs={k: v for k, v in trial.user_attrs.items()
                                                            if k in ("run_dir",)} | {"retry_of": trial.number})
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
