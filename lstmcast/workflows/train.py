"""lstmcast train: config -> prepared data -> fit -> test-split scores -> a run directory, all or nothing.

The run is built in RUN.partial (with a checkpoint after every epoch, so a kill loses at most one epoch) while the
run's lock is held, and renamed into place when complete. --resume continues exactly the run that was started: the
same config and the same data (checked by hash); only the number of epochs may change."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from lstmcast import __version__
from lstmcast.config import RunConfig, build_config, config_sha256, dump_config, parse_yaml
from lstmcast.data.calendar import Calendar, check_frequency, describe_frequency, exchange_sessions, infer_frequency
from lstmcast.data.panel import Panel, load_panel
from lstmcast.data.panelprep import PreparedPanel, prepare_panel
from lstmcast.data.reading import Series, load_series_for
from lstmcast.data.windows import Prepared, prepare
from lstmcast.errors import ConfigError, DataError, DistributedError, Interrupted, ModelFileError, OutputError
from lstmcast.evaluation.backtest import Scores
from lstmcast.files.atomic import FULL_DISK_ADVICE, absolute, check_output, remove
from lstmcast.files.locks import output_lock
from lstmcast.files.reading import MiB, read_regular
from lstmcast.models.lstm import parameter_count
from lstmcast.outputs import plots
from lstmcast.runs import write
from lstmcast.runs.layout import CHECKPOINT_FILE, CONFIG_FILE, FORMAT_VERSION, is_partial, is_run, partial_dir
from lstmcast.runs.meta import RunMeta
from lstmcast.runs.store import load_tensors
from lstmcast.training.checkpoint import state_from_tensors, state_to_tensors
from lstmcast.training.distributed import DEFAULT_TIMEOUT_S, SINGLE, Ranks, joined
from lstmcast.training.fit import Fitted, fit, fit_all
from lstmcast.training.loop import Callbacks, StopRequested, TrainingState
from lstmcast.scoring.panel import panel_meta, panel_plots, panel_test_scores
from lstmcast.scoring.splits import test_forecast_plot, test_scores, validation_residuals

Notice = Callable[[str], None]


@dataclass
class TrainOutcome:
    run_dir: Path
    meta: RunMeta
    notices: list[str] = field(default_factory=list)


def train_run(config: Optional[RunConfig], *, out: Path, force: bool = False, resume: bool = False,
              epochs: Optional[int] = None, callbacks: Optional[Callbacks] = None,
              notice: Notice = lambda message: None, strict: bool = False, ranks: Ranks = SINGLE,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> Optional[TrainOutcome]:
    """Train `config` into the run directory `out` (or, with `resume`, continue the run started there). A panel's
    series too short for the splits are skipped with a notice, or refused with `strict`. On several ranks (torchrun)
    every rank prepares the same windows and trains its shard; only rank 0 writes, and only it returns an outcome."""
    out = absolute(out)
    partial = partial_dir(out)
    with joined(ranks, timeout_s=timeout_s), output_lock(out) if ranks.lead else contextlib.nullcontext():
        if resume:
            config, state, text, data_sha = _resume_state(partial, epochs, notice)
        else:
            assert config is not None
            if ranks.lead:
                _check_new_run(out, partial, force=force)
            state, text, data_sha = None, dump_config(config), None
        series = load_panel(config.data) if config.data.is_panel else load_series_for(config.data)
        for message in series.notices:
            notice(message)
        if data_sha is not None and data_sha != series.sha256:
            raise DataError(f"{series.path} changed since the run started (its SHA-256 differs), so resuming would "
                            "train on other data; restore the file, or start over with --force")
        calendar = _calendar(config, series, notice)
        prepared = _prepare(config, series, calendar, notice, strict=strict)
        if not resume and ranks.lead:
            write.start_partial(partial, text)
        try:
            fitted = _fit(config, prepared, state, callbacks, partial, series, text, ranks)
            final = _final_fit(config, series, calendar, fitted, callbacks, notice, ranks) if config.training.final \
                else None
            if not ranks.lead:
                return None
            write_run = _write_panel_run if isinstance(series, Panel) else _write_run
            write_run(partial, out, config, series, prepared, fitted, calendar, final=final, force=force)
        except StopRequested as stop:
            raise _interrupted(partial, out, stop.args[0]) from None
        except Exception as exc:
            if ranks.lead and not (partial / CHECKPOINT_FILE).exists():  # nothing to resume: leave no debris behind
                remove(partial)
            if isinstance(exc, (OutputError, DistributedError)) and ranks.lead:
                raise _with_resume_hint(exc, partial, out) from None
            raise
    return TrainOutcome(out, RunMeta.model_validate_json((out / "meta.json").read_text()))


def _check_new_run(out: Path, partial: Path, *, force: bool) -> None:
    check_output(out, force=force, what="a run directory", recognise=is_run)
    if partial.exists():
        if not force:
            raise OutputError(f"{partial} holds an unfinished run; continue it with `lstmcast train --resume {out}`, "
                              "or pass --force to start over")
        if not is_partial(partial):
            raise OutputError(f"{partial} is not an unfinished lstmcast run, so --force will not remove it; move it "
                              "away yourself")
        shutil.rmtree(partial)


def _resume_state(partial: Path, epochs: Optional[int],
                  notice: Notice) -> tuple[RunConfig, TrainingState, str, Optional[str]]:
    checkpoint = partial / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise OutputError(f"nothing to resume: {checkpoint} does not exist (no epoch was completed); start over with "
                          "--force")
    try:
        text = read_regular(partial / CONFIG_FILE, limit=MiB, error=ModelFileError, missing="missing").decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{partial / CONFIG_FILE}: not UTF-8, so not the config lstmcast wrote; start over with "
                             "--force") from None
    tensors, metadata = load_tensors(checkpoint)
    recorded = metadata.get("epochs", "")
    epochs = epochs or (int(recorded) if recorded.isdigit() and 1 <= int(recorded) <= 100_000 else None)
    if metadata.get("config_sha256") != config_sha256(text):
        raise ModelFileError(f"{partial / CONFIG_FILE} was edited after the run started; restore it, or start over "
                             "with --force")
    try:
        config = build_config(parse_yaml(text, source=str(partial / CONFIG_FILE)), source=str(partial / CONFIG_FILE))
    except ConfigError as exc:
        raise ModelFileError(f"the unfinished run's config is invalid: {exc}") from None
    state = state_from_tensors(tensors, metadata, source=str(checkpoint))
    if epochs is not None and epochs != config.training.epochs:
        notice(f"training.epochs changed from {config.training.epochs} to {epochs} for the rest of the run")
        config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": epochs})})
    notice(f"resuming {partial.with_name(partial.name.removesuffix('.partial'))} after epoch {state.epoch}")
    return config, state, text, metadata.get("data_sha256", "")


def _prepare(config: RunConfig, source: Series | Panel, calendar: Calendar, notice: Notice, *, strict: bool = False,
             final: bool = False) -> Prepared | PreparedPanel:
    if isinstance(source, Series):
        return prepare(source, config.data, final=final, calendar=calendar)
    prepared, notices = prepare_panel(source, config.data, strict=strict, final=final, calendar=calendar)
    for message in notices:
        notice(message)
    return prepared


def _calendar(config: RunConfig, source: Series | Panel, notice: Notice) -> Calendar:
    """The data's calendar (a panel's from its longest series; every series must be spaced like it)."""
    members = _members(source)
    series = max(members, key=lambda member: len(member.dates))
    calendar = Calendar(infer_frequency(series.dates), config.data.calendar)
    if calendar.exchange and calendar.frequency not in ("B", "D"):
        raise ConfigError(f"data.calendar: {calendar.exchange} dates forecasts by trading session, but "
                          f"{series.path.name} holds {describe_frequency(calendar.frequency)}, not daily rows; remove "
                          "data.calendar for this data")
    for member in members if isinstance(source, Panel) else []:  # a panel's series are spaced like its longest
        check_frequency(member.dates, calendar, what=member.where)
    if calendar.exchange:
        sessions = exchange_sessions(calendar.exchange, series.dates[0], series.dates[-1])
        strays = series.dates.difference(sessions)
        if len(strays):
            notice(f"{len(strays)} date(s) of {series.path.name} are not {calendar.exchange} sessions (e.g. "
                   f"{strays[0].date()}); is data.calendar right?")
    return calendar


def _fit(config: RunConfig, prepared: Prepared, state: Optional[TrainingState], callbacks: Optional[Callbacks],
         partial: Path, series: Series, text: str, ranks: Ranks) -> Fitted:
    callbacks = callbacks or Callbacks()
    provenance = {"config_sha256": config_sha256(text), "data_sha256": series.sha256,
                  "epochs": str(config.training.epochs)}  # the file's hash; --resume --epochs N changes only this

    def save_checkpoint(current: TrainingState) -> None:
        tensors, metadata = state_to_tensors(current)
        write.save_checkpoint(partial, tensors, metadata | provenance)

    if ranks.lead:
        callbacks.on_checkpoint = save_checkpoint
    return fit(config, prepared, state=state, callbacks=callbacks, ranks=ranks)


def _final_fit(config: RunConfig, series: Series | Panel, calendar: Calendar, fitted: Fitted,
               callbacks: Optional[Callbacks], notice: Notice, ranks: Ranks) -> tuple[Fitted, Prepared | PreparedPanel]:
    """training.final: after the evaluation, the same model on every row (scaler included) for the best epoch count.
    Not checkpointed: --resume after a kill here repeats it from the finished evaluation, to the same weights."""
    prepared = _prepare(config, series, calendar, notice, final=True)
    epochs, last = fitted.state.best_epoch, _last_date(series)
    notice(f"final fit: refitting on all {len(prepared.origins('train'))} windows up to {last} for "
           f"{epochs} epoch{'s' if epochs != 1 else ''} (the evaluated best)")
    stop_only = Callbacks(should_stop=callbacks.should_stop) if callbacks else None
    return fit_all(config, prepared, epochs=epochs, callbacks=stop_only, ranks=ranks), prepared


def _members(source: Series | Panel) -> list[Series]:
    return [source] if isinstance(source, Series) else list(source.members.values())


def _last_date(source: Series | Panel) -> dt.date:
    return max(member.dates[-1] for member in _members(source)).date()


def _interrupted(partial: Path, out: Path, number: int) -> Interrupted:
    name = signal.Signals(number).name
    if not (partial / CHECKPOINT_FILE).is_file():
        return Interrupted(f"stopped by {name} before the first epoch ended; nothing to resume, run the command again",
                           signal_number=number)
    return Interrupted(f"stopped by {name}; the last completed epoch, with the best weights so far, is saved in "
                       f"{partial}; continue with `lstmcast train --resume {out}`", signal_number=number)


def _with_resume_hint(exc: OutputError | DistributedError, partial: Path, out: Path) -> OutputError | DistributedError:
    if not (partial / CHECKPOINT_FILE).exists():
        return exc
    message = str(exc)
    cause = "free some space" if message.endswith(FULL_DISK_ADVICE) else "fix the cause"
    return type(exc)(f"{message.removesuffix(FULL_DISK_ADVICE)}. The last completed epoch is saved in {partial}: "
                     f"{cause}, then continue with `lstmcast train --resume {out}`")


def _write_run(partial: Path, out: Path, config: RunConfig, series: Series, prepared: Prepared, fitted: Fitted,
               calendar: Calendar, *, final: Optional[tuple[Fitted, Prepared]], force: bool) -> None:
    scores, plot_data = test_scores(fitted.model, series, prepared, config)
    weights_sha, text = _save_model(partial, config, fitted, final)
    meta = _run_meta(config, series, prepared, fitted, scores, calendar, config_sha256(text), weights_sha, final,
                     conformal=validation_residuals(fitted.model, series, prepared, config))
    write.write_meta(partial, meta)
    _save_history(partial, config, fitted)
    test_forecast_plot(partial / "test_forecast.png", str(config.data.series or series.path.name), prepared,
                       *plot_data)
    write.finish(partial, out, force=force)


def _write_panel_run(partial: Path, out: Path, config: RunConfig, panel: Panel, prepared: PreparedPanel,
                     fitted: Fitted, calendar: Calendar, *, final: Optional[tuple[Fitted, PreparedPanel]],
                     force: bool) -> None:
    scores = panel_test_scores(fitted.model, panel, prepared, config)
    weights_sha, text = _save_model(partial, config, fitted, final)
    write.write_meta(partial, panel_meta(config, panel, prepared, fitted, scores, calendar,
                                         config_sha=config_sha256(text), weights_sha=weights_sha, final=final))
    _save_history(partial, config, fitted)
    panel_plots(partial, config, prepared, scores)
    write.finish(partial, out, force=force)


def _save_model(partial: Path, config: RunConfig, fitted: Fitted, final: Optional[tuple]) -> tuple[str, str]:
    """The saved model's weights (the final fit's, with training.final) and the config as run (--resume --epochs
    included); their hashes go into meta.json."""
    weights_sha = write.save_weights(partial, (final[0] if final else fitted).model.state_dict())
    return weights_sha, write.save_config(partial, dump_config(config))


def _save_history(partial: Path, config: RunConfig, fitted: Fitted) -> None:
    history = fitted.state.history
    write.write_history(partial, (vars(report) for report in history))
    plots.loss_curves(partial / "loss.png", [r.epoch for r in history], [r.train_loss for r in history],
                      [r.validation_loss for r in history], best_epoch=fitted.state.best_epoch,
                      title=f"{config.model.kind}: training and validation loss")


def _run_meta(config: RunConfig, series: Series, prepared: Prepared, fitted: Fitted, scores: Scores,
              calendar: Calendar, config_sha: str, weights_sha: str,
              final: Optional[tuple[Fitted, Prepared]], *, conformal: dict[str, Any]) -> RunMeta:
    windows = {split: prepared.origins(split) for split in ("train", "validation", "test")}

    def span(origins: np.ndarray) -> list[str]:
        return [str(prepared.dates[origins[0] + 1].date()), str(prepared.dates[origins[-1] + prepared.horizon].date())]

    state = fitted.state
    return RunMeta(
        format_version=FORMAT_VERSION, lstmcast_version=__version__, torch_version=torch.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), model_kind=config.model.kind,
        parameters=parameter_count(fitted.model), columns=prepared.columns, target=prepared.columns[0],
        transforms=dict(zip(prepared.columns, prepared.transforms)),
        scaler=(final[1] if final else prepared).scaler.to_json(),  # the saved model's own scaler
        lookback=prepared.lookback, horizon=prepared.horizon, frequency=calendar.frequency,
        calendar=calendar.exchange,
        data={"path": str(series.path), "sha256": series.sha256, "rows": len(series.dates),
              "first_date": series.dates[0].date(), "last_date": series.dates[-1].date()},
        split_rows={"train_end": prepared.train_end, "validation_end": prepared.validation_end},
        windows={split: len(origins) for split, origins in windows.items()},
        target_dates={split: span(origins) for split, origins in windows.items()},
        seed=config.training.seed, threads=torch.get_num_threads(), ranks=fitted.ranks, device=str(fitted.device),
        best_epoch=state.best_epoch, epochs_run=state.epoch, stopped_early=state.stopped_early,
        best_validation_loss=state.best_loss, test_metrics=scores.overall, test_always_up=scores.always_up,
        config_sha256=config_sha, weights_sha256=weights_sha,
        conformal=conformal,
        final_fit=None if final is None else {"epochs": final[0].state.epoch, "windows": len(final[1].origins("train")),
                                              "last_date": series.dates[-1].date()},
    )
