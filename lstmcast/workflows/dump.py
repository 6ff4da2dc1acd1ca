"""lstmcast dump-states: a trained run + a CSV -> every layer's h and c (and gates) at every step, with the
predictions, written chunk by chunk in bounded memory and checked against the model's own fused call.

Windows mode records what the model sees for each forecast; stream mode runs once over the whole series from its
first row (cut into stretches that carry the state), and writes the steps between --from and --to."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from lstmcast import __version__, faults
from lstmcast.errors import ConfigError, DataError
from lstmcast.files.atomic import atomic_output, check_free_space, check_output
from lstmcast.introspect import check
from lstmcast.introspect.arrays import Context, chunk_arrays
from lstmcast.introspect.record import Recorded, record_chunks, record_stream_chunks
from lstmcast.introspect.summary import LayerSummary, Summaries
from lstmcast.outputs import dumpfiles, plots
from lstmcast.outputs.dumpread import is_dump
from lstmcast.outputs.lstmvis import WORDS, LstmvisWriter, word_edges
from lstmcast.outputs.dumplayout import Shape, axes, specs
from lstmcast.runs.load import Run, open_run, run_data, run_member

CHUNK_BYTES = 64 * 2**20  # output bytes per chunk (a few chunks are in flight): bounds the working set
PLOT_POINTS = 2000  # dates kept for --plot (evenly spaced): a heatmap shows no more, and memory stays bounded
WRITERS = {"npz": dumpfiles.NpzWriter, "npy": dumpfiles.NpyWriter, "parquet": dumpfiles.ParquetWriter,
           "lstmvis": LstmvisWriter}
DEFAULT_NAMES = {"npz": "states.npz", "npy": "states", "parquet": "states.parquet", "lstmvis": "lstmvis"}


@dataclass
class DumpRequest:
    run_dir: Path
    out: Optional[Path] = None
    data_path: Optional[Path] = None
    fmt: Optional[str] = None  # default: from --out's suffix, else npz when small and npy otherwise
    mode: str = "windows"
    gates: bool = False
    date_from: Optional[dt.date] = None
    date_to: Optional[dt.date] = None
    force: bool = False
    chunk_size: int = 1024
    overrides: list[str] = field(default_factory=list)
    plot: Optional[Path] = None  # also draw a PNG there (checked before any work, drawn after the dump)
    series: Optional[str] = None  # which series of a panel run


@dataclass
class DumpOutcome:
    path: Path
    fmt: str
    meta: dict[str, Any]
    layers: list[LayerSummary]
    plot_data: dict[str, Any]


def _series_data(run: Run, request: DumpRequest) -> tuple[Any, Any]:
    """The series to record, prepared as the model saw it: the run's own, or the chosen one of a panel run."""
    if not run.is_panel:
        if request.series is not None:
            raise ConfigError(f"--series picks a series of a panel run; {run.path} holds one series (to read another "
                              "series of its long file, use --set data.series=NAME)")
        return run_data(run, request.data_path, overrides=request.overrides, command="dump-states")
    trained = list(run.meta.panel.series)
    name = request.series or (trained[0] if len(trained) == 1 else None)
    if name is None or name not in trained:
        why = run.meta.panel.skipped.get(name or "")
        shown = ", ".join(trained[:20]) + (", ..." if len(trained) > 20 else "")
        raise ConfigError(f"--series {name}: skipped in training ({why})" if why else
                          f"{run.path} is a panel run; dump-states records one series at a time: choose it with "
                          f"--series (one of {shown})")
    return run_member(run, name, request.data_path, overrides=request.overrides, command="dump-states")


def dump_states(request: DumpRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
                notice: Callable[[str], None] = lambda message: None) -> DumpOutcome:
    _check_plot_path(request)
    run = open_run(request.run_dir)
    for message in run.notices:
        notice(message)
    series, prepared = _series_data(run, request)
    following = run.calendar.following(prepared.dates[-1], run.meta.horizon)
    context = Context.build(prepared, following, stream=request.mode == "stream")
    written = _written_rows(context, request)
    shape = _shape(run, context, written, request)
    layout = specs(shape)
    size = sum(spec.nbytes for spec in layout.values())
    fmt = dumpfiles.format_for(request.out, request.fmt, size=size)
    out = request.out or request.run_dir / DEFAULT_NAMES[fmt]
    need = dumpfiles.estimate_bytes(layout, fmt)
    check_free_space(out, need, hint="narrow it with --from/--to, drop --gates, or write elsewhere with --out")
    notice(f"writing about {need / 2**20:,.1f} MiB ({fmt}) to {out}")
    meta = _meta(request, run, series, context, shape, layout, written)
    if fmt == "lstmvis":
        meta["lstmvis_words"] = {"edges": word_edges(prepared.scaled[:, 0]), "words": list(WORDS),
                                 "of": "the scaled target input, by quantile of the dumped series (percent)"}
        if not shape.stream:
            notice("LSTMVis reads one sequence: windows mode concatenates overlapping windows (and leaves out the "
                   "decoder); --mode stream gives it the series as it is")
    per_unit = size / max(len(written), 1)  # bytes per window (stream: per step)
    chunk = max(16, min(request.chunk_size, int(CHUNK_BYTES / per_unit)))  # windows (stream: steps) per chunk
    summaries = Summaries(shape.layers, decoder=shape.decoder)
    plot = _PlotSamples(len(written), wanted=request.plot is not None)
    with atomic_output(out, force=request.force, what="a state dump", recognise=is_dump,
                       directory=fmt in ("npy", "lstmvis"), suffix=out.suffix if fmt in ("npz", "parquet") else ""
                       ) as temp:
        writer = WRITERS[fmt](temp, layout, meta)
        try:
            timings, checks = _record_all(run, context, request, written, chunk, writer, summaries, plot, on_progress)
            meta["self_check"] = {"max_abs_error": max(checks.values()), **checks,
                                  "windows_checked": "all" if shape.stream else "first and last chunk"}
            meta["summary"] = [vars(s) for s in summaries.result(shape.h_units, shape.c_units)]
            started = time.perf_counter()
            meta["timings"] = timings
            writer.close(meta)
            timings["write_s"] = round(timings["write_s"] + time.perf_counter() - started, 4)
        finally:
            writer.discard()
    plot_data = plot.result() | {"target": run.meta.target, "history_dates": prepared.dates,
                                 "history": prepared.raw[:, 0]}
    outcome = DumpOutcome(out, fmt, meta, summaries.result(shape.h_units, shape.c_units), plot_data)
    if request.plot is not None:
        _write_plot(request.plot, outcome, force=request.force)
    return outcome


def _written_rows(context: Context, request: DumpRequest) -> np.ndarray:
    """Rows written: window ends (windows mode; never before the first full window) or stream steps, in the range."""
    dates = context.dates[: context.rows]
    rows = np.arange(context.rows)
    keep = np.ones(len(rows), dtype=bool)
    if request.date_from:
        keep &= dates >= np.datetime64(request.date_from)
    if request.date_to:
        keep &= dates <= np.datetime64(request.date_to)
    if not context.stream:
        keep &= rows >= context.lookback - 1
    if not keep.any():
        raise DataError(f"no {'rows' if context.stream else 'window ends'} between {request.date_from or 'the start'} "
                        f"and {request.date_to or 'the end'} (the data runs {str(dates[0])[:10]} .. "
                        f"{str(dates[-1])[:10]})")
    return rows[keep]


def _shape(run: Run, context: Context, written: np.ndarray, request: DumpRequest) -> Shape:
    encoder = run.model.encoder
    return Shape(windows=1 if context.stream else len(written), steps=len(written) if context.stream else
                 context.lookback, layers=encoder.num_layers, h_units=encoder.proj_size or encoder.hidden_size,
                 c_units=encoder.hidden_size, features=len(run.meta.columns), horizon=run.meta.horizon,
                 stream=context.stream, gates=request.gates, decoder=run.model.decoder is not None)


def _meta(request: DumpRequest, run: Run, series, context: Context, shape: Shape, layout: dict,
          written: np.ndarray) -> dict[str, Any]:
    encoder = run.model.encoder
    meta = {
        "format": "lstmcast-states", "format_version": dumpfiles.FORMAT_VERSION, "lstmcast_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(request.run_dir), "data": {"path": str(series.path), "sha256": series.sha256},
        "model_kind": run.meta.model_kind, "mode": request.mode, "target": run.meta.target, "series": series.name,
        "columns": run.meta.columns, "lookback": context.lookback, "horizon": shape.horizon,
        "num_layers": shape.layers, "hidden_size": shape.c_units, "proj_size": encoder.proj_size,
        "h_units": shape.h_units, "c_units": shape.c_units, "windows": shape.windows, "steps": shape.steps,
        "gates": request.gates, "first_date": str(context.dates[written[0]])[:10],
        "last_date": str(context.dates[written[-1]])[:10],
        "arrays": {name: {"shape": list(spec.shape), "dtype": spec.dtype} for name, spec in layout.items()},
        "axes": axes(decoder=shape.decoder),
    }
    if shape.stream:
        meta["stream_start"] = str(context.dates[0])[:10]  # the state is carried from the series' first row
    if encoder.proj_size:
        meta["note"] = (f"proj_size={encoder.proj_size}: h and the layer outputs have {shape.h_units} units "
                        f"(h = W_hr (o * tanh(c))); c has hidden_size={shape.c_units} units")
    return meta


def _record_all(run: Run, context: Context, request: DumpRequest, written: np.ndarray, chunk: int, writer,
                summaries: Summaries, plot: "_PlotSamples", on_progress: Callable[[int, int], None]
                ) -> tuple[dict, dict]:
    """Record chunk by chunk (stream: from the series' first row), write what lies in the range, check, summarise."""
    timings = {"compute_s": 0.0, "gates_s": 0.0, "write_s": 0.0, "check_s": 0.0}
    checks: dict[str, float] = {}
    chunks = _chunks(context, written, chunk)
    recorded = _recordings(run, context, chunks, request.gates)
    started_all = time.perf_counter()
    for index, (rows, item) in enumerate(zip(chunks, recorded)):
        timings["compute_s"] += item.state_seconds
        timings["gates_s"] += item.gate_seconds
        if context.stream or index in (0, len(chunks) - 1):
            started = time.perf_counter()
            for key, value in _check(run, item, request.gates, context.stream).items():
                checks[key] = max(checks.get(key, 0.0), value)
            timings["check_s"] += time.perf_counter() - started
        keep = np.isin(rows, written, assume_unique=True)
        if keep.any():
            started = time.perf_counter()
            arrays = chunk_arrays(item.recording, rows, keep, context)
            writer.write(arrays)
            timings["write_s"] += time.perf_counter() - started
            summaries.update(arrays)
            plot.add(arrays, context.stream)
        faults.hit("dump-chunk")
        on_progress(index + 1, len(chunks))
    timings["wall_s"] = time.perf_counter() - started_all
    return {k: round(v, 4) for k, v in timings.items()}, checks


def _chunks(context: Context, written: np.ndarray, size: int) -> list[np.ndarray]:
    """Windows mode: the written window ends, `size` at a time. Stream mode: every row from the first up to the last
    written one (the state must be carried from the series' start), `size` steps at a time."""
    rows = np.arange(written[-1] + 1) if context.stream else written
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _recordings(run: Run, context: Context, chunks: list[np.ndarray], gates: bool) -> Iterator[Recorded]:
    if context.stream:
        return record_stream_chunks(run.model, (context.values[rows][None] for rows in chunks), gates=gates)
    return record_chunks(run.model, (context.windows(rows) for rows in chunks), gates=gates)


def _check(run: Run, item: Recorded, gates: bool, stream: bool) -> dict[str, float]:
    checks = (check.check_stream if stream else check.check_windows)(run.model, item.x, item.recording)
    return checks | (check.check_gates(run.model, item.recording, stream=stream) if gates else {})


class _PlotSamples:
    """What --plot draws, at no more than PLOT_POINTS evenly spaced dates: each window's last-step states and, with
    --gates, its forget and input gates (or the stream's), and the one-step forecasts. Copies, not views (a view
    would keep its whole chunk alive)."""

    KEYS = ("dates", "last_h", "last_c", "prediction", "actual", "last_f", "last_i")

    def __init__(self, total: int, *, wanted: bool) -> None:
        self.stride, self.wanted, self.seen = max(1, -(-total // PLOT_POINTS)), wanted, 0
        self.parts: dict[str, list[np.ndarray]] = {key: [] for key in self.KEYS}

    def add(self, arrays: dict[str, np.ndarray], stream: bool) -> None:
        if not self.wanted:
            return
        if stream:
            picks = {"dates": arrays["step_date"][0], "last_h": arrays["h"][0], "last_c": arrays["c"][0],
                     "prediction": arrays["prediction"][0, :, 0], "actual": arrays["target"][0, :, 0]}
            picks |= {f"last_{g}": arrays[f"gate_{g}"][0] for g in "fi" if f"gate_{g}" in arrays}
        else:
            picks = {"dates": arrays["origin_date"], "last_h": arrays["h"][:, -1], "last_c": arrays["c"][:, -1],
                     "prediction": arrays["prediction"][:, 0], "actual": arrays["target"][:, 0]}
            picks |= {f"last_{g}": arrays[f"gate_{g}"][:, -1] for g in "fi" if f"gate_{g}" in arrays}
        keep = (self.seen + np.arange(len(picks["dates"]))) % self.stride == 0
        self.seen += len(picks["dates"])
        for key, value in picks.items():
            self.parts[key].append(value[keep].copy())

    def result(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate(parts) if parts else np.zeros(0) for key, parts in self.parts.items()}


def _check_plot_path(request: DumpRequest) -> None:
    """Refuse a bad --plot path now, not after minutes of recording."""
    if request.plot is not None:
        plots.check_png_path(request.plot)
        check_output(request.plot, force=request.force, what="a plot", recognise=plots.is_plot)


def _write_plot(path: Path, outcome: DumpOutcome, *, force: bool) -> None:
    data = outcome.plot_data
    gates = {name: data[f"last_{name}"] for name in "fi" if len(data[f"last_{name}"])}  # with --gates
    with atomic_output(path, force=force, what="a plot", recognise=plots.is_plot, suffix=".png") as temp:
        plots.states_overview(
            temp, dates=data["dates"], prediction=data["prediction"], actual=data["actual"], h=data["last_h"],
            c=data["last_c"], gates=gates or None,
            history_dates=data["history_dates"], history=data["history"], target=data["target"],
            caption=f"{outcome.meta['model_kind']} on {data['target']}: "
                    + ("the stream's states" if outcome.meta["mode"] == "stream" else "each window's last-step states")
                    + (" and gates" if gates else ""),
        )
