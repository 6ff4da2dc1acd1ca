"""dump-states orchestration: pick windows, record states chunk by chunk, write, summarise. No typer, no rich."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from lstmcast import __version__
from lstmcast.errors import ConfigError, DataError

SATURATED = 0.95  # |h| or |tanh(c)| above this counts as saturated
CHUNK_BYTES = 64 * 2**20  # output bytes per chunk of windows (a few chunks are in flight): bounds the working set


@dataclass
class DumpRequest:
    run_dir: Path
    out: Optional[Path] = None
    data_path: Optional[Path] = None
    fmt: Optional[str] = None  # default: npz when small, npy otherwise
    mode: str = "windows"
    gates: bool = False
    date_from: Optional[dt.date] = None
    date_to: Optional[dt.date] = None
    force: bool = False
    chunk_size: int = 1024


@dataclass
class LayerSummary:
    layer: int
    phase: str
    h_units: int
    c_units: int
    mean_abs_h: float
    saturated: float  # share of (step, unit) values with |h| or |tanh(c)| > 0.95
    mean_forget: Optional[float] = None
    half_life: Optional[float] = None  # steps for c to halve under the mean forget gate: ln 0.5 / ln f
    top_units: list[tuple[int, float]] = field(default_factory=list)  # (unit, correlation of h with the input)


@dataclass
class DumpOutcome:
    path: Path
    fmt: str
    meta: dict[str, Any]
    layers: list[LayerSummary]
    plot_data: dict[str, Any]


class _Moments:
    """Streaming sums for per-unit statistics and the correlation of each unit's h with the scaled target input."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, Any] = {}

    def add(self, name: str, value: np.ndarray) -> None:
        self.sums[name] = self.sums.get(name, 0) + value

    def update(self, h: np.ndarray, c: np.ndarray, x: np.ndarray, forget: Optional[np.ndarray]) -> None:
        """h [W, T, P], c [W, T, U], x [W, T] for one layer."""
        h2, x2 = h.reshape(-1, h.shape[-1]).astype(np.float64), x.reshape(-1).astype(np.float64)
        self.n += len(x2)
        self.add("abs_h", np.abs(h2).sum())
        self.add("saturated", (np.abs(h) > SATURATED).sum() + (np.abs(np.tanh(c)) > SATURATED).sum())
        self.add("cells", h.size + c.size)
        self.add("h", h2.sum(0))
        self.add("hh", (h2 * h2).sum(0))
        self.add("x", x2.sum())
        self.add("xx", (x2 * x2).sum())
        self.add("xh", x2 @ h2)
        if forget is not None:
            self.add("forget", forget.astype(np.float64).sum())
            self.add("forget_n", forget.size)

    def summary(self, layer: int, phase: str, h_units: int, c_units: int) -> LayerSummary:
        s, n = self.sums, max(self.n, 1)
        covariance = s["xh"] / n - (s["x"] / n) * (s["h"] / n)
        spread = np.sqrt(np.maximum(s["hh"] / n - (s["h"] / n) ** 2, 0) * max(s["xx"] / n - (s["x"] / n) ** 2, 0))
        correlation = np.divide(covariance, spread, out=np.zeros_like(covariance), where=spread > 0)
        top = [(int(u), float(correlation[u])) for u in np.argsort(-np.abs(correlation))[:3]]
        forget = float(s["forget"] / s["forget_n"]) if "forget" in s else None
        half_life = float(np.log(0.5) / np.log(forget)) if forget is not None and 0 < forget < 1 else None
        return LayerSummary(layer, phase, h_units, c_units, float(s["abs_h"] / (n * h_units)),
                            float(s["saturated"] / s["cells"]), forget, half_life, top)


def dump_states(request: DumpRequest, *, on_progress: Callable[[int, int], None] = lambda done, total: None,
                notice: Callable[[str], None] = lambda message: None) -> DumpOutcome:
    import torch

    from lstmcast import forecast as fc
    from lstmcast import persistence as files
    from lstmcast import statefiles
    from lstmcast import states as st
    from lstmcast.models import Seq2Seq
    from lstmcast.workflows import load_run, prepare_for_run

    run = load_run(request.run_dir)
    series, prepared = prepare_for_run(run, request.data_path)
    model, meta_run = run.model, run.meta
    seq2seq = isinstance(model, Seq2Seq)
    lstm = model.encoder if seq2seq else model.lstm
    lookback, horizon, features = prepared.lookback, int(meta_run["horizon"]), len(prepared.columns)
    layers, units_c = lstm.num_layers, lstm.hidden_size
    units_h = lstm.proj_size or units_c
    rows = np.arange(len(prepared.dates))
    dates = prepared.dates.to_numpy().astype("datetime64[s]")
    in_range = np.ones(len(rows), dtype=bool)
    if request.date_from:
        in_range &= dates >= np.datetime64(request.date_from)
    if request.date_to:
        in_range &= dates <= np.datetime64(request.date_to)
    if request.mode == "windows":
        origins = rows[(rows >= lookback - 1) & in_range]
        windows, steps = len(origins), lookback
    else:
        origins = rows[in_range]
        windows, steps = 1, len(origins)
    if len(origins) == 0:
        raise DataError(f"no {'window ends' if request.mode == 'windows' else 'rows'} between "
                        f"{request.date_from or 'the start'} and {request.date_to or 'the end'} "
                        f"(the data runs {prepared.dates[0].date()} .. {prepared.dates[-1].date()})")
    future = np.concatenate([dates, fc.forecast_dates(series.dates, horizon, meta_run.get("frequency"))
                             .to_numpy().astype("datetime64[s]")])
    specs = _specs(windows, steps, layers, units_h, units_c, features, horizon, request, seq2seq)
    fmt = request.fmt or ("npz" if statefiles.estimate_bytes(specs, "npy") < 512 * 2**20 else "npy")
    out = request.out or request.run_dir / {"npz": "states.npz", "npy": "states", "parquet": "states.parquet",
                                            "lstmvis": "lstmvis"}[fmt]
    size, need = statefiles.estimate_bytes(specs, "npy"), statefiles.estimate_bytes(specs, fmt)
    files.check_writable(out, force=request.force)
    files.check_free_space(out, need, hint="narrow it with --from/--to, drop --gates, or write elsewhere with --out")
    scratch = ", with as much again as scratch while packing" if need > size else ""
    notice(f"writing about {size / 2**20:,.1f} MiB ({fmt}{scratch}) to {out}")
    meta = {
        "format": "lstmcast-states", "format_version": statefiles.FORMAT_VERSION, "lstmcast_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(request.run_dir), "data": {"path": str(series.path), "sha256": series.sha256},
        "model_kind": meta_run["model_kind"], "mode": request.mode, "target": meta_run["target"],
        "columns": prepared.columns, "lookback": lookback, "horizon": horizon, "num_layers": layers,
        "hidden_size": units_c, "proj_size": lstm.proj_size, "h_units": units_h, "c_units": units_c,
        "windows": windows, "steps": steps, "gates": request.gates,
        "head_input": ("the decoder's top-layer output at each horizon step (decoder_h[:, k, -1])" if seq2seq
                       else "the top layer's output at the last lookback step (h[:, -1, -1]), i.e. h_n[-1]"),
        "arrays": {name: {"shape": list(spec.shape), "dtype": spec.dtype} for name, spec in specs.items()},
        "axes": _axes(seq2seq),
    }
    if lstm.proj_size:
        meta["note"] = (f"proj_size={lstm.proj_size}: h and the layer outputs have {units_h} units "
                        f"(h = W_hr (o * tanh(c))); c has hidden_size={units_c} units")
    moments = {(phase, layer): _Moments() for phase in (("encoder", "decoder") if seq2seq and request.mode ==
                                                        "windows" else ("encoder",)) for layer in range(layers)}
    timings = {"compute_s": 0.0, "gates_s": 0.0, "write_s": 0.0, "check_s": 0.0}
    checks: dict[str, float] = {}
    plot = {"dates": [], "last_h": [], "last_c": [], "prediction": [], "actual": []}
    _return_freed_memory()
    chunk_size = max(16, min(request.chunk_size, int(CHUNK_BYTES * windows / size)))
    with files.atomic_path(out, force=request.force) as temp:
        writer = statefiles.open_writer(fmt, temp, specs, meta)
        chunks = _chunks(origins, request.mode, chunk_size)
        if request.mode == "windows":
            inputs = (prepared.windows(chunk)[0] for chunk in chunks)
        else:
            inputs = [torch.from_numpy(prepared.scaled[chunks[0]][None])]
        stream = request.mode == "stream"  # one chunk: no worker threads, torch keeps all its threads
        recorded = st.record_chunks(model, inputs, gates=request.gates, stream=stream, workers=1 if stream else None)
        started_all = time.perf_counter()
        for index, (chunk_origins, item) in enumerate(zip(chunks, recorded)):
            x, recording = item.x, item.recording
            timings["compute_s"] += item.state_seconds
            timings["gates_s"] += item.gate_seconds
            if request.mode == "stream" or index in (0, len(chunks) - 1):
                started = time.perf_counter()
                _merge_checks(checks, _check(model, lstm, x, recording, request))
                timings["check_s"] += time.perf_counter() - started
            started = time.perf_counter()
            arrays = _arrays(recording, chunk_origins, prepared, dates, future, request, seq2seq)
            writer.write(arrays)
            timings["write_s"] += time.perf_counter() - started
            _accumulate(moments, arrays, seq2seq and request.mode == "windows")
            _collect_plot(plot, arrays, request.mode)
            on_progress(index + 1, len(chunks))
        timings["wall_s"] = time.perf_counter() - started_all
        meta["self_check"] = {"max_abs_error": max(checks.values()), **checks,
                              "windows_checked": "all" if request.mode == "stream" or len(chunks) <= 2
                              else "first and last chunk"}
        meta["timings"] = {k: round(v, 4) for k, v in timings.items()}
        summaries = [m.summary(layer, phase, units_h, units_c) for (phase, layer), m in moments.items()]
        meta["summary"] = [vars(s) for s in summaries]
        started = time.perf_counter()
        writer.close(meta)
        timings["write_s"] += time.perf_counter() - started
    meta["timings"] = {k: round(v, 4) for k, v in timings.items()}
    plot["target"], plot["history_dates"], plot["history"] = meta_run["target"], prepared.dates, prepared.raw[:, 0]
    return DumpOutcome(out, fmt, meta, summaries, plot)


def _chunks(origins: np.ndarray, mode: str, size: int) -> list[np.ndarray]:
    if mode == "stream":
        return [origins]
    return [origins[i : i + size] for i in range(0, len(origins), size)]


def _return_freed_memory() -> None:
    """Pin glibc's mmap threshold (1 MiB) so freed chunk buffers go back to the system.

    By default glibc raises the threshold after large frees, later chunks come from the heap, and resident memory
    creeps up with every chunk. Elsewhere (macOS, musl) this does nothing."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _specs(windows, steps, layers, units_h, units_c, features, horizon, request, seq2seq) -> dict[str, Any]:
    from lstmcast.statefiles import Spec

    stream = request.mode == "stream"
    per_step = (windows, steps, horizon) if stream else (windows, horizon)
    specs = {
        "h": Spec((windows, steps, layers, units_h), "float32"),
        "c": Spec((windows, steps, layers, units_c), "float32"),
        "step_date": Spec((windows, steps), "datetime64[s]"),
        "inputs_raw": Spec((windows, steps, features), "float64"),
        "inputs_scaled": Spec((windows, steps, features), "float32"),
        "prediction_scaled": Spec(per_step, "float32"),
        "prediction": Spec(per_step, "float64"),
        "target_scaled": Spec(per_step, "float32"),
        "target": Spec(per_step, "float64"),
        "target_date": Spec(per_step, "datetime64[s]"),
    }
    if not stream:
        specs["origin_date"] = Spec((windows,), "datetime64[s]")
        specs["head_input"] = Spec((windows, horizon, units_h) if seq2seq else (windows, units_h), "float32")
    if request.gates:
        specs |= {f"gate_{g}": Spec((windows, steps, layers, units_c), "float32") for g in "ifgo"}
    if seq2seq and not stream:
        specs["decoder_h"] = Spec((windows, horizon, layers, units_h), "float32")
        specs["decoder_c"] = Spec((windows, horizon, layers, units_c), "float32")
        specs["decoder_input"] = Spec((windows, horizon), "float32")
        if request.gates:
            specs |= {f"decoder_gate_{g}": Spec((windows, horizon, layers, units_c), "float32") for g in "ifgo"}
    return specs


def _axes(seq2seq: bool) -> dict[str, str]:
    axes = {
        "h": "[window, step, layer, unit] hidden state h_t (= the layer's output) after each lookback step",
        "c": "[window, step, layer, unit] cell state c_t",
        "gate_i/gate_f/gate_g/gate_o": "[window, step, layer, unit] input, forget, cell-candidate, output gates",
        "step_date": "[window, step] date of each lookback step",
        "origin_date": "[window] date of the window's last observation (the forecast origin)",
        "inputs_raw / inputs_scaled": "[window, step, feature] the user's values / what the model read",
        "prediction / target": "[window, horizon] in the user's units (target NaN past the data)",
        "prediction_scaled / target_scaled": "[window, horizon] in the model's scaled units",
        "target_date": "[window, horizon] dates of the forecast steps (the data's calendar past its end)",
        "stream mode": "window axis of length 1; prediction/target: [1, step, horizon] from every step's state",
    }
    if seq2seq:
        axes["decoder_h / decoder_c / decoder_gate_*"] = "[window, horizon, layer, unit] decoder states per step"
        axes["decoder_input"] = "[window, horizon] what each decoder step was fed (its previous prediction)"
    return axes


def _check(model, lstm, x, recording, request) -> dict[str, float]:
    import torch

    from lstmcast import states as st

    if request.mode == "stream":
        with torch.inference_mode():
            output, (h_n, c_n) = lstm(x)
        h, c = recording.encoder.stacked()
        checks = {"output_vs_top_h": float((output[0] - h[0, :, -1]).abs().max()),
                  "h_n_vs_last_h": float((h_n[:, 0] - h[0, -1]).abs().max()),
                  "c_n_vs_last_c": float((c_n[:, 0] - c[0, -1]).abs().max())}
    else:
        checks = st.self_check(model, x, recording)
    if request.gates:
        checks["gates_explain_states"] = st.gate_consistency(lstm, recording.encoder)
    return checks


def _merge_checks(into: dict[str, float], new: dict[str, float]) -> None:
    for key, value in new.items():
        into[key] = max(into.get(key, 0.0), value)


def _arrays(recording, origins, prepared, dates, future, request, seq2seq) -> dict[str, np.ndarray]:
    from lstmcast import forecast as fc

    def host(tensor):
        return tensor.detach().cpu().numpy()

    h, c = recording.encoder.stacked()
    horizon = recording.prediction_scaled.shape[1]
    if request.mode == "stream":
        steps = origins[None, :]  # [1, M]
        ends = origins
    else:
        steps = origins[:, None] - prepared.lookback + 1 + np.arange(prepared.lookback)[None, :]
        ends = origins
    ahead = ends[:, None] + np.arange(1, horizon + 1)[None, :]
    scaled_prediction = host(recording.prediction_scaled).astype(np.float64)
    arrays = {
        "h": host(h), "c": host(c),
        "step_date": dates[steps],
        "inputs_raw": prepared.raw[steps],
        "inputs_scaled": prepared.scaled[steps],
        "prediction_scaled": scaled_prediction.astype(np.float32),
        "prediction": fc.to_user_units(prepared, scaled_prediction, ends),
        "target_scaled": fc.actuals(prepared.scaled[:, 0], ends, horizon),
        "target": fc.actuals(prepared.raw[:, 0], ends, horizon),
        "target_date": future[ahead],
    }
    for name, value in recording.encoder.gates.items():
        arrays[f"gate_{name}"] = host(value)
    if request.mode == "stream":
        return {k: (v[None] if k in {"prediction_scaled", "prediction", "target_scaled", "target", "target_date"}
                    else v) for k, v in arrays.items()}
    arrays["origin_date"] = dates[origins]
    arrays["head_input"] = host(recording.head_input)
    if seq2seq:
        dh, dc = recording.decoder.stacked()
        arrays["decoder_h"], arrays["decoder_c"] = host(dh), host(dc)
        arrays["decoder_input"] = host(recording.decoder_input)
        for name, value in recording.decoder.gates.items():
            arrays[f"decoder_gate_{name}"] = host(value)
    return arrays


def _accumulate(moments, arrays, with_decoder: bool) -> None:
    x = arrays["inputs_scaled"][:, :, 0]
    for (phase, layer), moment in moments.items():
        if phase == "encoder":
            forget = arrays["gate_f"][:, :, layer] if "gate_f" in arrays else None
            moment.update(arrays["h"][:, :, layer], arrays["c"][:, :, layer], x, forget)
        elif with_decoder:
            forget = arrays["decoder_gate_f"][:, :, layer] if "decoder_gate_f" in arrays else None
            moment.update(arrays["decoder_h"][:, :, layer], arrays["decoder_c"][:, :, layer],
                          arrays["decoder_input"], forget)


def _collect_plot(plot, arrays, mode: str) -> None:
    """Keep what the PNG needs: each window's last-step states (or the stream), one-step forecasts, by date.

    Copies, not views: a view would keep the whole chunk alive and memory would grow with the dump."""
    if mode == "stream":
        picks = {"dates": arrays["step_date"][0], "last_h": arrays["h"][0], "last_c": arrays["c"][0],
                 "prediction": arrays["prediction"][0, :, 0], "actual": arrays["target"][0, :, 0]}
    else:
        picks = {"dates": arrays["origin_date"], "last_h": arrays["h"][:, -1], "last_c": arrays["c"][:, -1],
                 "prediction": arrays["prediction"][:, 0], "actual": arrays["target"][:, 0]}
    for key, value in picks.items():
        plot[key].append(value.copy())


def parse_date(value: Optional[str], option: str) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r}: expected a date like 2017-01-31") from None


def write_plot(path: Path, outcome: DumpOutcome, *, force: bool) -> None:
    from lstmcast import persistence as files
    from lstmcast import plots

    data = outcome.plot_data
    with files.atomic_path(path, force=force) as temp:
        plots.states_overview(
            temp.with_suffix(".png"), dates=np.concatenate(data["dates"]), prediction=np.concatenate(data["prediction"]),
            actual=np.concatenate(data["actual"]), h=np.concatenate(data["last_h"]), c=np.concatenate(data["last_c"]),
            history_dates=data["history_dates"], history=data["history"], target=data["target"],
            caption=f"{outcome.meta['model_kind']} on {data['target']}: "
                    + ("the stream's states" if outcome.meta["mode"] == "stream" else "each window's last-step states"),
        )
        temp.with_suffix(".png").replace(temp)
