"""train / predict orchestration: config + data + model + files. No typer, no rich, no printing."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from lstmcast import __version__
from lstmcast.config import RunConfig, build_config, dump_config
from lstmcast.errors import ConfigError, DataError, ModelFileError, OutputError

Notice = Callable[[str], None]


@dataclass
class TrainOutcome:
    """A finished run: where it is, and its meta.json (metrics, epochs, windows, dates)."""

    run_dir: Path
    meta: dict[str, Any]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:  # model / random_walk / drift -> metric -> value
        return self.meta["test_metrics"]

    @property
    def test_range(self) -> tuple[str, str]:
        return tuple(self.meta["target_dates"]["test"])


@dataclass
class LoadedRun:
    run_dir: Path
    config: RunConfig
    meta: dict[str, Any]
    model: Any  # torch.nn.Module in eval mode


@dataclass
class Forecast:
    target: str
    last_date: dt.date
    last_value: float
    dates: list[dt.date]
    values: list[float]
    notices: list[str] = field(default_factory=list)


def partial_dir(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".partial")


def load_series_for(config: RunConfig, path: Optional[Path] = None):
    from lstmcast.data import load_series

    data = config.data
    return load_series(
        path or data.path, date_column=data.date_column, columns=[data.target, *data.features],
        series_column=data.series_column, series=data.series, missing=data.missing, sep=data.sep,
        decimal=data.decimal, date_format=data.date_format,
    )


def check_memory(config: RunConfig, input_size: int) -> None:
    """Refuse absurd sizes before allocating: parameters, optimizer state and one batch's activations."""
    m, t = config.model, config.training
    units = m.proj_size or m.hidden_size
    per_layer = 4 * m.hidden_size * (max(input_size, units) + units + 2) + m.proj_size * m.hidden_size
    parameters = per_layer * m.num_layers * (2 if m.kind == "seq2seq" else 1)
    activations = t.batch_size * (config.data.lookback + config.data.horizon) * m.num_layers * 6 * m.hidden_size
    need = 4 * (4 * parameters + 3 * activations)  # float32; weights, grads, two Adam moments; forward + backward
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > available * 0.8:
        raise ConfigError(
            f"model.hidden_size {m.hidden_size}, num_layers {m.num_layers}, training.batch_size {t.batch_size} need "
            f"about {need / 2**30:.1f} GiB, more than this machine's {available / 2**30:.1f} GiB; make them smaller"
        )


def train_run(
    config: Optional[RunConfig],
    *,
    out: Path,
    force: bool = False,
    resume: bool = False,
    make_callbacks: Optional[Callable[[], Any]] = None,
    notice: Notice = lambda message: None,
) -> TrainOutcome:
    """Train a model into `out` (built in OUT.partial, renamed into place when complete)."""
    import torch

    from lstmcast import persistence as files
    from lstmcast.models import build_model
    from lstmcast.preprocess import prepare
    from lstmcast.training import Callbacks, resolve_device, state_from_tensors, state_to_tensors, train

    partial = partial_dir(out)
    state = None
    if resume:
        if not (partial / files.CHECKPOINT_FILE).is_file():
            raise OutputError(f"nothing to resume: {partial / files.CHECKPOINT_FILE} does not exist")
        config = load_config_file(partial / files.CONFIG_FILE)
        state = state_from_tensors(*files.load_tensors(partial / files.CHECKPOINT_FILE))
        notice(f"resuming {out} after epoch {state.epoch}")
    else:
        assert config is not None
        files.check_writable(out, force=force)
        if partial.exists():
            if not force:
                raise OutputError(
                    f"{partial} holds an unfinished run; continue it with `lstmcast train --resume {out}`, "
                    "or pass --force to start over"
                )
            shutil.rmtree(partial)
    files.sweep_leftovers(out.parent if str(out.parent) else Path("."))
    t = config.training
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    series = load_series_for(config)
    for message in series.notices:
        notice(message)
    prepared = prepare(series, config.data)
    check_memory(config, len(prepared.columns))
    device = resolve_device(t.device)
    windows = {split: prepared.origins(split) for split in ("train", "validation", "test")}
    if min(len(origins) for origins in windows.values()) == 0:
        raise DataError(f"{series.path}: a split has no complete window; use a smaller lookback or horizon")
    tensors = prepared.split_windows(tuple(windows), device=str(device))
    model = build_model(config.model, input_size=len(prepared.columns), horizon=prepared.horizon).to(device)
    if not resume:
        partial.mkdir(parents=True)
        files.write_text(partial / files.CONFIG_FILE, dump_config(config), force=True)

    def save_checkpoint(current) -> None:
        tensors_, metadata = state_to_tensors(current)
        files.save_tensors(partial / files.CHECKPOINT_FILE, tensors_, metadata=metadata)

    callbacks = make_callbacks() if make_callbacks else Callbacks()
    callbacks.on_checkpoint = save_checkpoint
    teacher = getattr(config.model, "teacher_forcing", 0.0)
    try:
        state = train(model, tensors["train"], tensors["validation"], t, teacher_forcing=teacher, state=state,
                      callbacks=callbacks)
        metrics, plot_data = _test_metrics(model, prepared, windows["test"], tensors["test"][0])
        meta = _run_meta(config, series, prepared, state, metrics, windows, device, model)
        with files.translate_os_errors(partial):
            _write_run(partial, out, model, config, meta, state, plot_data, force=force)
    except Exception:
        if not (partial / files.CHECKPOINT_FILE).exists():  # nothing to resume: leave no debris behind
            shutil.rmtree(partial, ignore_errors=True)
        raise
    return TrainOutcome(run_dir=out, meta=meta)


def _test_metrics(model, prepared, origins, x_test):
    from lstmcast import forecast as fc

    scaled = fc.predict_scaled(model, x_test)
    predicted = fc.to_user_units(prepared, scaled, origins)
    history = prepared.raw[:, 0]
    actual = fc.actuals(history, origins, prepared.horizon)
    anchor = history[origins]
    scale = fc.naive_scale(history[: prepared.train_end])
    forecasts = {
        "model": predicted,
        "random_walk": fc.random_walk(history, origins, prepared.horizon),
        "drift": fc.drift(history, origins, prepared.horizon),
    }
    metrics = {name: fc.metrics(actual, values, anchor, scale=scale) for name, values in forecasts.items()}
    return metrics, (origins, actual, forecasts, prepared)


def _run_meta(config, series, prepared, state, metrics, windows, device, model) -> dict[str, Any]:
    import torch

    from lstmcast import persistence as files
    from lstmcast.forecast import infer_frequency
    from lstmcast.models import parameter_count

    def span(origins):
        return [str(prepared.dates[origins[0] + 1].date()), str(prepared.dates[origins[-1] + prepared.horizon].date())]

    return {
        "format_version": files.FORMAT_VERSION,
        "lstmcast_version": __version__,
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model_kind": config.model.kind,
        "parameters": parameter_count(model),
        "columns": prepared.columns,
        "target": prepared.columns[0],
        "transforms": dict(zip(prepared.columns, prepared.transforms)),
        "scaler": prepared.scaler.to_json(),
        "lookback": prepared.lookback,
        "horizon": prepared.horizon,
        "frequency": infer_frequency(series.dates),
        "data": {
            "path": str(series.path), "sha256": series.sha256, "rows": len(series.dates),
            "first_date": str(series.dates[0].date()), "last_date": str(series.dates[-1].date()),
        },
        "split_rows": {"train_end": prepared.train_end, "validation_end": prepared.validation_end},
        "windows": {split: len(origins) for split, origins in windows.items()},
        "target_dates": {split: span(origins) for split, origins in windows.items()},
        "seed": config.training.seed,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "stopped_early": state.stopped_early,
        "best_validation_loss": state.best_loss,
        "test_metrics": metrics,
    }


def _write_run(partial, out, model, config, meta, state, plot_data, *, force: bool) -> None:
    from lstmcast import persistence as files
    from lstmcast import plots

    weights = dict(model.state_dict())
    if not all(bool(v.isfinite().all()) for v in weights.values()):
        raise ModelFileError("the trained weights are not finite; nothing was saved (lower the learning rate)")
    files.save_tensors(partial / files.MODEL_FILE, weights, metadata={"format_version": str(files.FORMAT_VERSION)})
    files.write_json(partial / files.META_FILE, meta, force=True)
    rows = ["epoch,train_loss,validation_loss,seconds,improved"] + [
        f"{r.epoch},{r.train_loss!r},{r.validation_loss!r},{r.seconds:.4f},{int(r.improved)}" for r in state.history
    ]
    files.write_text(partial / files.HISTORY_FILE, "\n".join(rows) + "\n", force=True)
    history = state.history
    plots.loss_curves(partial / "loss.png", [r.epoch for r in history], [r.train_loss for r in history],
                      [r.validation_loss for r in history], best_epoch=state.best_epoch,
                      title=f"{config.model.kind}: training and validation loss")
    origins, actual, forecasts, prepared = plot_data
    context = slice(max(0, origins[0] - 2 * len(origins)), origins[0] + 2)
    plots.forecast_vs_actual(
        partial / "test_forecast.png", prepared.dates[origins + 1], actual[:, 0],
        {"LSTM (1 step ahead)": forecasts["model"][:, 0], "random walk": forecasts["random_walk"][:, 0]},
        context_dates=prepared.dates[context], context=prepared.raw[context, 0],
        title=f"Test split: {meta['target']}, one step ahead", ylabel=meta["target"],
    )
    files.promote_dir(partial, out, force=force)
    (out / files.CHECKPOINT_FILE).unlink(missing_ok=True)


def load_config_file(path: Path) -> RunConfig:
    """A run's resolved config (paths already absolute)."""
    from lstmcast.config import read_config_file

    try:
        return build_config(read_config_file(path), source=str(path))
    except ConfigError as exc:
        raise ModelFileError(f"the run's config is invalid: {exc}") from None


def load_run(run_dir: Path) -> LoadedRun:
    """Config, metadata and weights of a run directory; the weights are read with safetensors only."""
    import torch

    from lstmcast import persistence as files
    from lstmcast.models import build_model

    meta = files.check_run_dir(run_dir)
    config = load_config_file(run_dir / files.CONFIG_FILE)
    weights, _ = files.load_tensors(run_dir / files.MODEL_FILE)
    model = build_model(config.model, input_size=len(meta["columns"]), horizon=int(meta["horizon"]))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise ModelFileError(f"{run_dir / files.MODEL_FILE}: the weights do not fit the run's config ({first})") from None
    if not all(bool(torch.isfinite(v).all()) for v in weights.values()):
        raise ModelFileError(f"{run_dir / files.MODEL_FILE}: the weights contain NaN or infinity; retrain")
    model.eval()
    return LoadedRun(run_dir=run_dir, config=config, meta=meta, model=model)


def prepare_for_run(run: LoadedRun, data_path: Optional[Path]):
    """Load a CSV with the run's columns (by name, any order) and scale it with the run's own scaler."""
    from lstmcast.preprocess import Scaler, prepare

    path = data_path or Path(run.meta["data"]["path"])
    try:
        series = load_series_for(run.config, path)
    except DataError as exc:
        raise DataError(f"{exc} (the model needs the columns {', '.join(run.meta['columns'])})") from None
    return series, prepare(series, run.config.data, scaler=Scaler.from_json(run.meta["scaler"]))


def predict_run(run_dir: Path, *, data_path: Optional[Path] = None, horizon: Optional[int] = None) -> Forecast:
    """Forecast the `horizon` steps after the CSV's last row, dated on the data's calendar, in the user's units."""
    import numpy as np
    import torch

    from lstmcast import forecast as fc
    from lstmcast.models import Seq2Seq

    run = load_run(run_dir)
    series, prepared = prepare_for_run(run, data_path)
    trained = int(run.meta["horizon"])
    steps = horizon or trained
    x = torch.from_numpy(prepared.scaled[-prepared.lookback:][None])  # [1, lookback, F]
    with torch.no_grad():
        if steps <= trained:
            scaled = run.model(x)[0][:, :steps]
        elif isinstance(run.model, Seq2Seq):
            run.model.horizon = steps  # the decoder is autoregressive: it can run past its trained horizon
            scaled = run.model(x)[0]
            run.model.horizon = trained
        elif x.shape[2] == 1:
            scaled = _recursive(run.model, x, steps)
        else:
            raise ConfigError(
                f"--horizon {steps}: this many_to_one model was trained for {trained} steps and has extra input "
                f"columns whose future is unknown; ask for at most {trained} steps, or train with a longer horizon"
            )
    origin = np.array([len(prepared.dates) - 1])
    values = fc.to_user_units(prepared, scaled.double().numpy(), origin)[0]
    if not np.isfinite(values).all():
        raise DataError(f"the forecast is not finite ({values.tolist()}); the input data may be extreme")
    dates = fc.forecast_dates(series.dates, steps, run.meta.get("frequency"))
    notices = list(series.notices)
    if steps > trained:
        notices.append(f"the model was trained for {trained} steps; steps beyond feed its own forecasts back")
    return Forecast(
        target=run.meta["target"], last_date=series.dates[-1].date(), last_value=float(prepared.raw[-1, 0]),
        dates=[d.date() for d in dates], values=[float(v) for v in values], notices=notices,
    )


def _recursive(model, x, steps: int):
    """Roll a single-input many_to_one model forward, feeding its forecasts back as inputs."""
    import torch

    window, parts, produced = x, [], 0
    while produced < steps:
        y = model(window)[0]  # [1, H]
        parts.append(y)
        produced += y.shape[1]
        window = torch.cat([window, y[:, :, None]], dim=1)[:, -x.shape[1]:]
    return torch.cat(parts, dim=1)[:, :steps]


def write_forecast_csv(path: Path, forecast: Forecast, *, force: bool) -> None:
    from lstmcast import persistence as files

    rows = ["date," + _csv_field(forecast.target)] + [f"{d},{v!r}" for d, v in zip(forecast.dates, forecast.values)]
    files.write_text(path, "\n".join(rows) + "\n", force=force)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text
