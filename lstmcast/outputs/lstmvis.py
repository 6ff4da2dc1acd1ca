"""The LSTMVis layout (Strobelt et al.): one sequence of positions, with every state type aligned to it.

states.h5: `output{l}` = h and `states{l}` = c per layer ([positions, units]), the gates `gate_{i,f,g,o}{l}` with
--gates, and in stream mode for seq2seq the decoder's state for the k-th forecast step made from each position
(`decoder_output{l}_k{k}`, `decoder_states{l}_k{k}`). train.h5 + words.dict: a word per position, the scaled target
input binned by the quantiles of the dumped series (so the words mean the same whatever the run's scaler). dates.h5 +
dates.dict: each position's date, as an annotation track; annotations.h5: scalar tracks (the price; in stream mode
also the one-step forecast made at each position, its error, and the realised volatility of the last 21 returns),
so a pattern of units can be matched against what the market did. lstm.yml says which values LSTMVis must not
squash with tanh again (h and the gates are bounded already; c is not). Positions are the stream's steps; in windows
mode the windows' steps are concatenated (the help says to use stream mode for LSTMVis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lstmcast.errors import ConfigError
from lstmcast.files.atomic import write_marker
from lstmcast.outputs.dumpfiles import DUMP_KIND, Spec

QUANTILES = (5, 20, 40, 60, 80, 95)
WORDS = ("p00-05", "p05-20", "p20-40", "p40-60", "p60-80", "p80-95", "p95-100")
GATES = "ifgo"


def word_edges(scaled_target: np.ndarray) -> list[float]:
    """Bin edges (scaled units) for the words: the quantiles of the series' scaled target."""
    return np.nanpercentile(scaled_target, QUANTILES).tolist()


class LstmvisWriter:
    def __init__(self, folder: Path, specs: dict[str, Spec], meta: dict[str, Any]) -> None:
        try:
            import h5py  # optional: the `lstmvis` extra
        except ImportError:
            raise ConfigError("--format lstmvis needs h5py: pip install 'lstmcast[lstmvis]'") from None
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.edges = folder, np.asarray(meta["lstmvis_words"]["edges"])
        self.stream = meta["mode"] == "stream"
        windows, steps, self.layers = specs["h"].shape[:3]
        total = windows * steps
        tracks = ("states", "train", "dates", "annotations") + (("series",) if "series" in specs else ())
        self.files = {name: h5py.File(folder / f"{name}.h5", "w") for name in tracks}
        self.sources = self._datasets(specs, total)
        self.scalars = Scalars(self.files["annotations"], total, stream=self.stream)
        self.files["train"].create_dataset("word_ids", (total,), dtype="int32")
        self.files["dates"].create_dataset("date_ids", (total,), dtype="int32")
        if "series" in self.files:  # a panel's dump: which series each position belongs to, as a meta track
            self.files["series"].create_dataset("series_ids", (total,), dtype="int32")
        self.position, self.dates = 0, []

    def _datasets(self, specs: dict[str, Spec], total: int) -> dict[str, tuple[str, int, int | None]]:
        """LSTMVis dataset name -> (dump array, layer, horizon step or None)."""
        sources = {}
        for layer in range(self.layers):
            sources[f"output{layer + 1}"] = ("h", layer, None)
            sources[f"states{layer + 1}"] = ("c", layer, None)
            sources |= {f"gate_{g}{layer + 1}": (f"gate_{g}", layer, None) for g in GATES if f"gate_{g}" in specs}
            if self.stream and "decoder_h" in specs:
                for k in range(specs["prediction"].shape[-1]):
                    sources[f"decoder_output{layer + 1}_k{k + 1}"] = ("decoder_h", layer, k)
                    sources[f"decoder_states{layer + 1}_k{k + 1}"] = ("decoder_c", layer, k)
        for name, (array, _, _) in sources.items():
            self.files["states"].create_dataset(name, (total, specs[array].shape[-1]), dtype="float32")
        return sources

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        windows, steps = chunk["h"].shape[:2]
        count = windows * steps
        rows = slice(self.position, self.position + count)
        for name, (array, layer, k) in self.sources.items():
            values = chunk[array][..., layer, :] if k is None else chunk[array][:, :, k, layer, :]
            self.files["states"][name][rows] = values.reshape(count, -1)
        self.files["train"]["word_ids"][rows] = np.digitize(chunk["inputs_scaled"][:, :, 0].reshape(-1),
                                                            self.edges) + 1
        self.files["dates"]["date_ids"][rows] = np.arange(rows.start, rows.stop) + 1
        if "series" in self.files:  # dictionary ids start at 1
            codes = chunk["series"].reshape(-1) if self.stream else np.repeat(chunk["series"], steps)
            self.files["series"]["series_ids"][rows] = codes + 1
        self.dates.append(np.datetime_as_string(chunk["step_date"].reshape(-1), unit="D"))
        self.scalars.write(chunk, rows)
        self.position = rows.stop

    def close(self, meta: dict[str, Any]) -> None:
        self.discard()
        (self.folder / "words.dict").write_text("".join(f"{word} {i + 1}\n" for i, word in enumerate(WORDS)))
        dates = np.concatenate(self.dates) if self.dates else np.array([], dtype=str)
        (self.folder / "dates.dict").write_text("".join(f"{day} {i + 1}\n" for i, day in enumerate(dates)))
        if "series" in self.files:
            (self.folder / "series.dict").write_text("".join(f"{name} {i + 1}\n" for i, name in
                                                             enumerate(meta["series"])))
        (self.folder / "lstm.yml").write_text(yaml.safe_dump(self._config(meta), sort_keys=False))
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2))
        write_marker(self.folder, DUMP_KIND)

    def _config(self, meta: dict[str, Any]) -> dict[str, Any]:
        types = []
        for name, (array, layer, k) in self.sources.items():
            kind = {"h": "output", "c": "state", "decoder_h": "decoder_output", "decoder_c": "decoder_state"}.get(
                array, array)
            entry: dict[str, Any] = {"type": kind if k is None else f"{kind}_k{k + 1}", "layer": layer + 1, "path": name}
            if array in ("h", "decoder_h"):
                entry["transform"] = "none"  # h = o tanh(c) (projected) already lies in a bounded range
            elif array.startswith("gate_"):
                entry |= {"transform": "none", "unsigned": True}  # gates lie in [0, 1] (g in [-1, 1])
                if array == "gate_g":
                    entry.pop("unsigned")
            types.append(entry)
        tracks = {"date": {"file": "dates", "path": "date_ids", "dict": "dates_dict",
                           "vis": {"type": "discrete", "range": "dict"}}} | self.scalars.tracks()
        files = {"states": "states.h5", "train": "train.h5", "words": "words.dict", "dates": "dates.h5",
                 "dates_dict": "dates.dict", "annotations": "annotations.h5"}
        if "series" in self.files:
            tracks["series"] = {"file": "series", "path": "series_ids", "dict": "series_dict",
                                "vis": {"type": "discrete", "range": "dict"}}
            files |= {"series": "series.h5", "series_dict": "series.dict"}
        return {
            "name": f"lstmcast {meta['model_kind']} {meta['target']}",
            "description": f"LSTM states from lstmcast dump-states ({meta['mode']} mode); words bin the scaled target "
                           "input at each step by the quantiles of the dumped series",
            "files": files,
            "word_sequence": {"file": "train", "path": "word_ids", "dict_file": "words"},
            "states": {"file": "states", "types": types},
            "meta": tracks,
        }

    def discard(self) -> None:
        for handle in self.files.values():
            handle.close()


class Scalars:
    """The scalar annotation tracks, written chunk by chunk: `price` (the target in the user's units at each
    position); in stream mode also `forecast` (the one-step forecast made there), `error` (forecast - actual, 0 past
    the data) and `realised_volatility_21` (sample standard deviation of the last 21 log returns, up to and
    including the position; 0 until two are known). LSTMVis cannot show a gap, so unknown values are 0; the ranges
    LSTMVis colours by are the tracks' own minimum and maximum."""

    WINDOW = 21

    def __init__(self, handle: Any, total: int, *, stream: bool) -> None:
        self.names = ("price", "forecast", "error", "realised_volatility_21") if stream else ("price",)
        for name in self.names:
            handle.create_dataset(name, (total,), dtype="float32")
        self.handle, self.ranges = handle, {name: [np.inf, -np.inf] for name in self.names}
        self.previous: tuple[Any, np.ndarray] = (None, np.empty(0))  # (series code, its last prices)

    def write(self, chunk: dict[str, np.ndarray], rows: slice) -> None:
        price = chunk["inputs_raw"][..., 0].reshape(-1)
        values = {"price": price}
        if "forecast" in self.names:
            forecast, actual = chunk["prediction"][0, :, 0], chunk["target"][0, :, 0]
            values |= {"forecast": forecast, "error": np.where(np.isfinite(actual), forecast - actual, 0.0),
                       "realised_volatility_21": self._volatility(price, chunk.get("series"))}
        for name, value in values.items():
            value = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            self.handle[name][rows] = value
            if len(value):
                self.ranges[name] = [min(self.ranges[name][0], float(value.min())),
                                     max(self.ranges[name][1], float(value.max()))]

    def _volatility(self, price: np.ndarray, series: Any) -> np.ndarray:
        """Rolling over chunk boundaries (the last prices of the same series are carried)."""
        import pandas as pd

        code = None if series is None else int(series.reshape(-1)[0])
        earlier = self.previous[1] if self.previous[0] == code else np.empty(0)
        prices = np.concatenate([earlier, price])
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = pd.Series(np.diff(np.log(np.where(prices > 0, prices, np.nan)), prepend=np.nan))
        volatility = returns.rolling(self.WINDOW, min_periods=2).std().to_numpy()[len(earlier):]
        self.previous = (code, prices[-self.WINDOW:])
        return volatility

    def tracks(self) -> dict[str, Any]:
        return {name: {"file": "annotations", "path": name,
                       "vis": {"type": "scalar", "range": [lo, hi] if lo <= hi else [0.0, 0.0]}}
                for name, (lo, hi) in self.ranges.items()}
