"""lstmcast tune: a config's `tune:` space searched by Optuna (TPE, pruning on the validation loss per epoch), every
trial an ordinary run directory under SWEEP/trials, the study in SWEEP's journal (or a storage URL), then a
leaderboard and the best config written out.

A sweep is resumable: run the same command again (after Ctrl-C, kill -9 or a lost machine) and it continues until
--trials trials are finished, never running a finished trial again; a trial whose process died is retried from its
run's last checkpoint. Several processes may run the same command on one sweep at once."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from lstmcast.config import build_config, config_sha256, read_config_file
from lstmcast.config.tune import LOSS_SCALE, Dimension, read_space, split_tune, trial_raw
from lstmcast.data.panel import load_panel
from lstmcast.data.reading import load_series_for
from lstmcast.errors import (
    ConfigError, DataError, Interrupted, ModelFileError, OutOfMemory, OutputError, TrainingDiverged,
)
from lstmcast.files.atomic import absolute
from lstmcast.files.locks import output_lock, shared_lock
from lstmcast.runs.layout import META_FILE, has_checkpoint, is_run
from lstmcast.runs.meta import read_meta
from lstmcast.scoring.validation import validation_mase
from lstmcast.training.loop import Callbacks, EpochReport
from lstmcast.tuning.board import Row, leaderboard, row_of, write_best, write_leaderboard
from lstmcast.tuning.study import Sweep, open_study, progress, reclaim, retry, suggest

OBJECTIVES = {"validation": "best validation loss", "backtest": "validation MASE, walk-forward"}
TRIALS = "trials"
SOURCE = "sweep.yaml"  # the config the sweep started from, tune section included


@dataclass
class TuneRequest:
    config: Path
    out: Path
    trials: int
    objective: str = "validation"
    storage: Optional[str] = None
    study: Optional[str] = None
    pruner: str = "median"
    seed: Optional[int] = None  # default: the config's training.seed
    force: bool = False


@dataclass
class TuneOutcome:
    folder: Path
    objective: str
    rows: list[Row]
    best: Optional[Row]
    best_config: Optional[Path]
    ran: int  # trials this process ran
    seconds: float


TrainRun = Callable[..., Any]  # lstmcast.workflows.train.train_run, handed in by the CLI (no workflow imports another)


def tune(request: TuneRequest, *, train: TrainRun, should_stop: Callable[[], int] = lambda: 0,
         on_trial: Callable[[Row, int, int], None] = lambda row, done, total: None,
         notice: Callable[[str], None] = lambda message: None) -> TuneOutcome:
    started = time.perf_counter()
    if request.objective not in OBJECTIVES:
        raise ConfigError(f"--objective {request.objective}: choose validation or backtest")
    text = _config_text(request.config)
    base, section = split_tune(read_config_file(request.config))
    dimensions = read_space(section, base, source=str(request.config), objective=request.objective)
    config = build_config(base, source=str(request.config), base_dir=request.config.parent)
    _ = load_panel(config.data) if config.data.is_panel else load_series_for(config.data)  # its errors are the sweep's
    pruner = _pruner_for(request, dimensions, notice)
    folder = absolute(request.out)
    with shared_lock(folder, exclusive_first=request.force) as share:
        fresh = _claim(folder, text, force=request.force)
        share()
        sweep = open_study(folder, storage=request.storage, name=request.study or _study_name(folder),
                           seed=request.seed, base_seed=config.training.seed, pruner=pruner, fresh=fresh)
        ran = 0
        while True:
            if stop := should_stop():
                raise Interrupted(f"stopped by {signal.Signals(stop).name} between trials; run the same command to "
                                  "continue the sweep", signal_number=stop)
            reclaim(sweep, lambda where: folder / where, notice)
            done, busy = progress(sweep)
            if done + busy >= request.trials:
                break
            trial = sweep.study.ask()
            _run_trial(sweep, trial, base, dimensions, request, train=train, should_stop=should_stop, notice=notice)
            ran += 1
            told = next(t for t in sweep.study.get_trials(deepcopy=False) if t.number == trial.number)
            on_trial(row_of(told, None), progress(sweep)[0], request.trials)
        rows = leaderboard(sweep.study, [d.key for d in dimensions])
        write_leaderboard(folder, rows, force=True)
    best = next((row for row in rows if row.state == "COMPLETE"), None)
    failed = next((row for row in rows if row.state == "FAIL" and row.error), None)
    if best is None and failed is not None:
        raise ConfigError(f"no trial of the sweep completed; trial {failed.number} failed with: {failed.note} "
                          f"(all trials: {folder / 'leaderboard.csv'})")
    what = OBJECTIVES[request.objective]
    best_config = write_best(folder, base, best, config.data.path, what=what) if best else None
    return TuneOutcome(folder, request.objective, rows, best, best_config, ran, time.perf_counter() - started)


def _pruner_for(request: TuneRequest, dimensions: list[Dimension], notice: Callable[[str], None]) -> str:
    """Pruning compares validation losses across trials: not when the space changes what that loss measures."""
    scales = [d.key for d in dimensions if d.key in LOSS_SCALE]
    if scales and request.pruner != "none":
        notice(f"pruning is off: {', '.join(scales)} changes what the validation loss measures, so trials' losses "
               "cannot be compared epoch by epoch")
        return "none"
    return request.pruner


def _run_trial(sweep: Sweep, trial: Any, base: dict, dimensions: list[Dimension], request: TuneRequest, *,
               train: TrainRun, should_stop: Callable[[], int], notice: Callable[[str], None]) -> None:
    """Train one trial into its run directory and tell the study how it ended."""
    from optuna.trial import TrialState

    where = trial.user_attrs.get("run_dir") or f"{TRIALS}/trial-{trial.number:04d}"
    run_dir = sweep.folder / where
    with _owned(run_dir):  # the lock first, then the study hears of it: an owned trial with a free lock is dead
        trial.set_user_attr("run_dir", where)
        trial.set_user_attr("owner", f"pid {os.getpid()} on {socket.gethostname()}")
        values = {d.key: suggest(trial, d) for d in dimensions}
        pruned: list[int] = [trial.user_attrs["pruned_at"]] if "pruned_at" in trial.user_attrs else []
        try:
            value = _train_and_score(trial, base, values, run_dir, request, train, pruned, should_stop)
            _tell(sweep, trial, TrialState.PRUNED if pruned else TrialState.COMPLETE, None if pruned else value)
        except Interrupted as stop:
            _tell(sweep, trial, TrialState.FAIL)
            retry(sweep, trial, {"run_dir": where} | ({"pruned_at": pruned[0]} if pruned else {}))
            raise Interrupted(f"{stop}. The sweep continues with the same `lstmcast tune` command; trial "
                              f"{trial.number} will resume from its checkpoint", signal_number=stop.exit_code - 128)
        except (ConfigError, DataError, TrainingDiverged, OutOfMemory, ModelFileError) as exc:  # this trial's own
            trial.set_user_attr("error", str(exc).splitlines()[0][:300])
            _tell(sweep, trial, TrialState.FAIL)
        except _TakenOver:
            notice(f"trial {trial.number} was taken over by another process (it judged this one dead); moving on")


class _TakenOver(Exception):
    """The study no longer lets this process update its trial: another process failed it and retries it."""


@contextlib.contextmanager
def _updating() -> Iterator[None]:
    """An update of this process's trial that the study refuses: another process took the trial over."""
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        yield
    except (UpdateFinishedTrialError, ValueError, RuntimeError):
        raise _TakenOver() from None


def _tell(sweep: Sweep, trial: Any, state: Any, value: Optional[float] = None) -> None:
    with _updating():
        sweep.study.tell(trial, value, state=state) if value is not None else sweep.study.tell(trial, state=state)


def _owned(run_dir: Path) -> contextlib.AbstractContextManager:
    """The trial's run lock; another process's momentary probe of it (reclaim) is waited out."""
    return output_lock(run_dir, wait_s=5.0)


def _train_and_score(trial: Any, base: dict, values: dict[str, Any], run_dir: Path, request: TuneRequest,
                     train: TrainRun, pruned: list[int], should_stop: Callable[[], int]) -> float:
    config = build_config(trial_raw(base, values), source=f"trial {trial.number}", base_dir=request.config.parent)
    config = config.model_copy(update={"training": config.training.model_copy(update={"final": False})})
    callbacks = Callbacks(should_stop=should_stop, stop_early=_pruning(trial, pruned))
    if is_run(run_dir):  # trained before its process died, not yet told
        meta = read_meta(run_dir / META_FILE)
    else:
        resume = has_checkpoint(run_dir)
        meta = train(None if resume else config, out=run_dir, resume=resume, force=True, callbacks=callbacks,
                     notice=lambda message: None).meta
    trial.set_user_attr("best_epoch", meta.best_epoch)
    trial.set_user_attr("epochs_run", meta.epochs_run)
    if pruned or request.objective == "validation":
        return meta.best_validation_loss
    return validation_mase(run_dir)


def _pruning(trial: Any, pruned: list[int]) -> Callable[[EpochReport], bool]:
    """Report each epoch's validation loss; end training like early stopping when the pruner says so."""

    def stop_early(report: EpochReport) -> bool:
        if not math.isfinite(report.validation_loss):
            return False
        with _updating():
            trial.report(report.validation_loss, report.epoch)
            if not trial.should_prune():
                return False
            trial.set_user_attr("pruned_at", report.epoch)  # kept if the process dies before telling the study
        pruned.append(report.epoch)
        return True

    return stop_early


def _config_text(path: Path) -> str:
    from lstmcast.files.reading import MiB, read_regular

    return read_regular(path, limit=MiB, error=ConfigError, missing="no such config file").decode("utf-8", "replace")


def _claim(folder: Path, text: str, *, force: bool) -> bool:
    """A new sweep directory, or the one this config started (refused when it holds another config's sweep). With
    `force` an existing sweep is removed (the caller holds the sweep's lock alone); True when the sweep starts anew."""
    import shutil

    source = folder / SOURCE
    if folder.exists() and not source.is_file():
        if any(folder.iterdir()):
            raise OutputError(f"{folder} exists and is not an lstmcast sweep; give another --out")
    elif source.is_file() and config_sha256(source.read_text("utf-8", "replace")) != config_sha256(text):
        if not force:
            raise OutputError(f"{folder} holds a sweep of another config (or {SOURCE} differs from the config now); "
                              "give another --out, or --force to start that sweep over")
        shutil.rmtree(folder)
    elif source.is_file() and force:
        shutil.rmtree(folder)
    fresh = not source.is_file()
    folder.mkdir(parents=True, exist_ok=True)
    if not source.is_file():
        from lstmcast.files.atomic import write_text

        write_text(source, text, force=True, what="the sweep's config", recognise=lambda path: True)
    return fresh


def _study_name(folder: Path) -> str:
    """The study's name in a shared database: the folder's name and a digest of its path, so that two sweeps named
    alike in different places do not share a study."""
    return f"{folder.name}-{config_sha256(str(folder))[:8]}"

