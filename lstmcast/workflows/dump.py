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
from lstmcast.introspect.summary import LayerSummary, PlotSamples, Summaries
from lstmcast.outputs import dumpfiles, plots
from lstmcast.outputs.dumpread import is_dump
from lstmcast.outputs.lstmvis import WORDS, LstmvisWriter, word_edges
from lstmcast.outputs.dumplayout import Shape, axes, specs
from lstmcast.runs.load import Run, chosen_series, open_run, run_data, run_members

CHUNK_BYTES = 48 * 2**20  # output bytes per chunk (a few chunks are in flight): bounds the working set
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
    chunk_size: int = 512  # with CHUNK_BYTES, the fastest in benchmarks/bench_states.py (512; 256 with gates)
    overrides: list[str] = field(default_factory=list)
    plot: Optional[Path] = None  # also draw a PNG there (checked before any work, drawn after the dump)
    series: Optional[list[str]] = None  # which series of a panel run (None: all)


@dataclass
class DumpOutcome:
    path: Path
    fmt: str
    meta: dict[str, Any]
    layers: list[LayerSummary]
    plot_data: dict[str, Any]


@dataclass
class _Member:
    """One series to record: its position in meta["series"] (None for a single-series run), its data and rows."""

    code: Optional[int]
    series: Any
    context: Context
    written: np.ndarray


def _members(run: Run, request: DumpRequest, notice: Callable[[str], None]) -> tuple[list[_Member], Optional[list]]:
    """The series to record, each prepared as the model saw it, and (panel runs) their ids in dump order."""
    stream = request.mode == "stream"

    def member(code: Optional[int], series: Any, prepared: Any) -> _Member:
        context = Context.build(prepared, run.calendar.following(prepared.dates[-1], run.meta.horizon), stream=stream)
        return _Member(code, series, context, _written_rows(context, request))

    if not run.is_panel:
        if request.series is not None:
            raise ConfigError(f"--series picks series of a panel run; {run.path} holds one series (to read another "
                              "series of its long file, use --set data.series=NAME)")
        return [member(None, *run_data(run, request.data_path, overrides=request.overrides,
                                        command="dump-states"))], None
    names = chosen_series(run, request.series)
    if request.plot is not None and len(names) > 1:
        raise ConfigError("--plot draws one series; add --series ID (the dump itself may hold several)")
    loaded = run_members(run, names, request.data_path, overrides=request.overrides, command="dump-states")
    members, kept, empty = [], [], None
    for name in names:
        try:
            members.append(member(len(kept), *loaded[name]))  # its code: its position among the series kept
            kept.append(name)
        except DataError as exc:  # nothing of this series in the --from/--to range
            empty = empty or exc
            notice(f"series {name}: {exc}; left out of the dump")
    if not members:
        raise empty  # type: ignore[misc]
    return members, kept


def dump_states(request: DumpRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
                notice: Callable[[str], None] = lambda message: None) -> DumpOutcome:
    _check_plot_path(request)
    run = open_run(request.run_dir)
    for message in run.notices:
        notice(message)
    members, names = _members(run, request, notice)
    for message in (line for member in members for line in _data_notices(run, member)):
        notice(message)
    shape = _shape(run, members, request, series=names is not None)
    layout = specs(shape)
    size = sum(spec.nbytes for spec in layout.values())
    fmt = dumpfiles.format_for(request.out, request.fmt, size=size)
    out = request.out or request.run_dir / DEFAULT_NAMES[fmt]
    need = dumpfiles.estimate_bytes(layout, fmt)
    check_free_space(out, need, hint="narrow it with --from/--to, drop --gates, or write elsewhere with --out")
    notice(f"writing about {need / 2**20:,.1f} MiB ({fmt}) to {out}")
    meta = _meta(request, run, members, names, shape, layout)
    if fmt == "lstmvis":
        scaled = np.concatenate([m.context.prepared.scaled[:, 0] for m in members])
        meta["lstmvis_words"] = {"edges": word_edges(scaled), "words": list(WORDS),
                                 "of": "the scaled target input, by quantile of the dumped series (percent)"}
        if not shape.stream:
            notice("LSTMVis reads one sequence: windows mode concatenates overlapping windows (and leaves out the "
                   "decoder); --mode stream gives it the series as it is")
    total = sum(len(m.written) for m in members)
    chunk = max(16, min(request.chunk_size, int(CHUNK_BYTES * total / size)))  # windows (stream: steps) per chunk
    summaries = Summaries(shape.layers, decoder=shape.decoder)
    plot = PlotSamples(total, wanted=request.plot is not None, points=PLOT_POINTS)
    with atomic_output(out, force=request.force, what="a state dump", recognise=is_dump,
                       directory=fmt in ("npy", "lstmvis"), suffix=out.suffix if fmt in ("npz", "parquet") else ""
                       ) as temp:
        writer = WRITERS[fmt](temp, layout, meta)
        try:
            timings, checks = _record_members(run, members, request, chunk, writer, summaries, plot, on_progress)
            meta["self_check"] = {"max_abs_error": max(checks.values()), **checks,
                                  "windows_checked": "all" if shape.stream else "first and last chunk"}
            meta["summary"] = [vars(s) for s in summaries.result(shape.h_units, shape.c_units)]
            started = time.perf_counter()
            meta["timings"] = timings
            writer.close(meta)
            timings["write_s"] = round(timings["write_s"] + time.perf_counter() - started, 4)
        finally:
            writer.discard()
    prepared = members[0].context.prepared
    plot_data = plot.result() | {"target": run.meta.target, "history_dates": prepared.dates,
                                 "history": prepared.raw[:, 0]}
    outcome = DumpOutcome(out, fmt, meta, summaries.result(shape.h_units, shape.c_units), plot_data)
    if request.plot is not None:
        plots.write_states_plot(request.plot, outcome.plot_data, outcome.meta, force=request.force)
    return outcome


def _record_members(run: Run, members: list[_Member], request: DumpRequest, chunk: int, writer,
                    summaries: Summaries, plot: PlotSamples,
                    on_progress: Callable[[int, int], None]) -> tuple[dict, dict]:
    """Each series recorded in turn into the same writer (its windows, or its stream from its own first row)."""
    counts = [len(_chunks(m.context, m.written, chunk)) for m in members]
    timings: dict[str, float] = {}
    checks: dict[str, float] = {}
    for number, member in enumerate(members):
        done = sum(counts[:number])
        times, found = _record_all(run, member.context, request, member.written, chunk, writer, summaries, plot,
                                   lambda index, _, done=done: on_progress(done + index, sum(counts)),
                                   code=member.code)
        timings = {key: round(timings.get(key, 0.0) + value, 4) for key, value in times.items()}
        checks = check.worst(checks, found)
    return timings, checks


def _data_notices(run: Run, member: _Member) -> list[str]:
    """What predict would say of the data as read, and the gaps the recorded windows read as one step."""
    return list(member.series.notices) + member.context.gap_notice(member.written, run.calendar,
                                                                   what=member.series.where)


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


def _shape(run: Run, members: list[_Member], request: DumpRequest, *, series: bool) -> Shape:
    encoder, stream = run.model.encoder, request.mode == "stream"
    written = sum(len(m.written) for m in members)  # windows (stream: steps) of every series, end to end
    return Shape(windows=1 if stream else written, steps=written if stream else members[0].context.lookback,
                 layers=encoder.num_layers, h_units=encoder.proj_size or encoder.hidden_size,
                 c_units=encoder.hidden_size, features=len(run.meta.columns), horizon=run.meta.horizon,
                 stream=stream, gates=request.gates, decoder=run.model.decoder is not None, series=series)


def _meta(request: DumpRequest, run: Run, members: list[_Member], names: Optional[list[str]], shape: Shape,
          layout: dict) -> dict[str, Any]:
    encoder, first = run.model.encoder, members[0]
    meta = {
        "format": "lstmcast-states", "format_version": dumpfiles.FORMAT_VERSION, "lstmcast_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(request.run_dir), "data": {"path": str(first.series.path), "sha256": first.series.sha256},
        "model_kind": run.meta.model_kind, "mode": request.mode, "target": run.meta.target,
        "columns": run.meta.columns, "lookback": first.context.lookback, "horizon": shape.horizon,
        "num_layers": shape.layers, "hidden_size": shape.c_units, "proj_size": encoder.proj_size,
        "h_units": shape.h_units, "c_units": shape.c_units, "windows": shape.windows, "steps": shape.steps,
        "gates": request.gates,
        "first_date": min(str(m.context.dates[m.written[0]])[:10] for m in members),
        "last_date": max(str(m.context.dates[m.written[-1]])[:10] for m in members),
        "arrays": {name: {"shape": list(spec.shape), "dtype": spec.dtype} for name, spec in layout.items()},
        "axes": axes(decoder=shape.decoder, series=shape.series),
    }
    if names is not None:  # a panel run: the `series` array indexes these ids, in this order
        meta["series"] = [names[m.code] for m in members]  # type: ignore[index]
        meta["series_counts"] = {names[m.code]: len(m.written) for m in members}  # type: ignore[index]
    if shape.stream:
        meta["stream_start"] = min(str(m.context.dates[0])[:10] for m in members)  # states carried from each first row
    if encoder.proj_size:
        meta["note"] = (f"proj_size={encoder.proj_size}: h and the layer outputs have {shape.h_units} units "
                        f"(h = W_hr (o * tanh(c))); c has hidden_size={shape.c_units} units")
    return meta


def _record_all(run: Run, context: Context, request: DumpRequest, written: np.ndarray, chunk: int, writer,
                summaries: Summaries, plot: PlotSamples, on_progress: Callable[[int, int], None], *,
                code: Optional[int] = None) -> tuple[dict, dict]:
    """Record chunk by chunk (stream: from the series' first row), write what lies in the range, check, summarise;
    `code` (a panel's series) fills the `series` array of every chunk."""
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
            checks = check.worst(checks, check.check_recorded(run.model, item.x, item.recording, gates=request.gates,
                                                              stream=context.stream))
            timings["check_s"] += time.perf_counter() - started
        keep = np.isin(rows, written, assume_unique=True)
        if keep.any():
            started = time.perf_counter()
            arrays = chunk_arrays(item.recording, rows, keep, context)
            if code is not None:
                arrays["series"] = np.full(arrays["h"].shape[:2] if context.stream else len(arrays["h"]), code,
                                           dtype=np.int32)  # [1, steps] (stream) or [windows]
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


def _check_plot_path(request: DumpRequest) -> None:
    """Refuse a bad --plot path now, not after minutes of recording."""
    if request.plot is not None:
        plots.check_png_path(request.plot)
        check_output(request.plot, force=request.force, what="a plot", recognise=plots.is_plot)
