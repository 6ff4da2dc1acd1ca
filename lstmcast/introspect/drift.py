"""How far a final state lies from the states the model reached in training: the Mahalanobis distance to the
training windows' final (h, c) of every layer, and the share of training windows that lay closer.

The covariance of tanh-bounded states is nearly singular (a saturated unit barely moves), and a plain inverse then
lets a few near-constant directions decide every distance; it is shrunk toward a multiple of the identity by the
Ledoit-Wolf (2004) intensity, which needs no tuning. The training distances a new state is ranked among are
cross-fitted (each scored by a fit that did not include it), as the new state's is.
Shape legend: N windows, D = the layers' h and c units together."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from lstmcast.data.windows import Prepared

UNUSUAL = 0.99  # a state farther than 99% of the training states is flagged
MIN_REFERENCE = 50  # training windows needed for a reference
FOLDS = 5  # cross-fitting blocks for the reference distances


@torch.no_grad()
def final_states(model: nn.Module, x: Tensor, *, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's (h_n, c_n) after each window x [N, T, C], from the fused call: [N, L, P] and [N, L, U]."""
    model.eval()
    hs, cs = [], []
    for start in range(0, len(x), batch_size):
        _, (h, c) = model.encode(x[start : start + batch_size])
        hs.append(h.transpose(0, 1).float().numpy())
        cs.append(c.transpose(0, 1).float().numpy())
    if not hs:
        lstm = model.encoder
        return (np.zeros((0, lstm.num_layers, lstm.proj_size or lstm.hidden_size), np.float32),
                np.zeros((0, lstm.num_layers, lstm.hidden_size), np.float32))
    return np.concatenate(hs), np.concatenate(cs)


def flat_state(h: np.ndarray, c: np.ndarray) -> np.ndarray:
    """[N, D]: every layer's h, then every layer's c."""
    return np.concatenate([h.reshape(len(h), -1), c.reshape(len(c), -1)], axis=1).astype(np.float64)


def ledoit_wolf(centred: np.ndarray) -> np.ndarray:
    """The Ledoit-Wolf shrunk covariance of centred rows [N, D]: (1 - s) S + s (tr S / D) I, with the intensity s
    that minimises the expected Frobenius loss (their Lemma 3.1 estimates)."""
    n, d = centred.shape
    sample = centred.T @ centred / n
    target = np.trace(sample) / d
    spread = ((sample - target * np.eye(d)) ** 2).sum() / d
    rows = (centred ** 2).sum(1)
    noise = min(((rows ** 2).sum() / n - (sample ** 2).sum()) / (n * d), spread)
    shrink = noise / spread if spread > 0 else 1.0
    return (1 - shrink) * sample + shrink * target * np.eye(d)


@dataclass(frozen=True)
class DriftReference:
    mean: np.ndarray  # [D]
    whitening: np.ndarray  # [D, D]: |whitening (z - mean)| is the Mahalanobis distance
    training: np.ndarray  # sorted cross-fitted distances of the training states

    @classmethod
    def fit(cls, states: np.ndarray, *, folds: int = FOLDS) -> "DriftReference":
        """Mean and covariance from every training state [N, D] (in time order); the reference distances
        cross-fitted: each of `folds` contiguous blocks scored by a fit on the others. A distance to the covariance
        fitted on the state itself is too short (in 256 dimensions from 1,000 states, 38% of fresh states from the
        same distribution lay beyond the in-sample 99th percentile), so a new state is compared with states that
        were not part of the fit either."""
        if len(states) < 2 * folds:
            raise ValueError(f"a drift reference needs at least {2 * folds} training states")
        blocks = np.array_split(np.arange(len(states)), folds)
        held = [cls._fitted(np.delete(states, block, axis=0)).distance(states[block]) for block in blocks]
        whole = cls._fitted(states)
        return cls(whole.mean, whole.whitening, np.sort(np.concatenate(held)))

    @classmethod
    def _fitted(cls, states: np.ndarray) -> "DriftReference":
        mean = states.mean(0)
        values, vectors = np.linalg.eigh(ledoit_wolf(states - mean))
        values = np.maximum(values, np.finfo(np.float64).tiny)
        return cls(mean, np.ascontiguousarray((vectors / np.sqrt(values)).T), np.zeros(0))  # as saved and read back

    def distance(self, states: np.ndarray) -> np.ndarray:
        return np.linalg.norm((states - self.mean) @ self.whitening.T, axis=1)

    def quantile(self, distances: np.ndarray) -> np.ndarray:
        """The share of training states at most that far (1.0: beyond every one of them)."""
        return np.searchsorted(self.training, distances, side="right") / len(self.training)

    @property
    def threshold(self) -> float:
        return float(np.quantile(self.training, UNUSUAL))

    def arrays(self) -> dict[str, np.ndarray]:
        """What a saved stream state carries so its continuations are flagged against the same reference."""
        return {"mean": self.mean, "whitening": self.whitening, "training": self.training}

    def assess(self, states: np.ndarray) -> dict[str, np.ndarray]:
        """Per state [N, D]: its distance, the share of training states at most that far, and whether it is flagged."""
        distance = self.distance(states)
        return {"distance": distance, "training_quantile": self.quantile(distance),
                "unusual": distance > self.threshold}


REFERENCE_WINDOWS = 4000  # training windows (evenly spaced) a forecast's drift is measured against


def training_origins(prepared: Prepared, first: dt.date, last: dt.date) -> np.ndarray:
    """The window ends whose targets all lie between the run's first and last training target dates: the training
    windows, found by date in whatever CSV the states are computed from."""
    dates = prepared.dates
    rows = np.arange(prepared.lookback - 1, len(dates) - prepared.horizon)
    keep = (dates[rows + 1] >= pd.Timestamp(first)) & (dates[rows + prepared.horizon] <= pd.Timestamp(last))
    return rows[keep]


def reference_rows(prepared: Prepared, train_dates: tuple[dt.date, dt.date], *,
                   limit: int = REFERENCE_WINDOWS) -> np.ndarray:
    """The training windows a drift reference is fitted on: at most `limit`, evenly spaced (predict and inspect use
    the same, so they print the same figures)."""
    rows = training_origins(prepared, *train_dates)
    return rows[evenly_spaced(len(rows), limit)]


def evenly_spaced(count: int, at_most: int) -> np.ndarray:
    """Positions of at most `at_most` of `count` items, evenly spaced, the first and last included."""
    return np.unique(np.linspace(0, count - 1, min(at_most, count)).round().astype(int)) if count else \
        np.zeros(0, dtype=int)


def forecast_drift(model: nn.Module, prepared: Prepared, x: Tensor, train_dates: tuple[dt.date, dt.date]
                   ) -> tuple[Optional[dict], Optional[str]]:
    """How unusual the state after the forecast's window x [1, T, C] is against the training windows of the same
    CSV: (flag(...), None), or (None, why not)."""
    rows = reference_rows(prepared, train_dates)
    if len(rows) < MIN_REFERENCE:
        return None, (f"no state drift flag: the CSV holds {len(rows)} of the run's training windows "
                      f"({train_dates[0]} .. {train_dates[1]}), fewer than {MIN_REFERENCE}; give the CSV with its "
                      "training rows to get one")
    reference = DriftReference.fit(flat_state(*final_states(model, prepared.windows_at(rows))))
    return flag(reference, *final_states(model, x), states="windows"), None


def flag(reference: DriftReference, h: np.ndarray, c: np.ndarray, *, states: str) -> dict:
    """The drift entry of a forecast from the state (h [1, L, P], c [1, L, U]): {distance, training_quantile,
    unusual, threshold, training_states, reference} (`states`: which training states the reference holds, the
    windows' final states or a stream's states on the training dates)."""
    assessed = {key: value[0].item() for key, value in reference.assess(flat_state(h, c)).items()}
    return assessed | {"threshold": reference.threshold, "training_states": int(len(reference.training)),
                       "reference": states}


def unusual_notice(drift: dict) -> str:
    return (f"unusual state: the model's final state lies farther from its training states (Mahalanobis distance "
            f"{drift['distance']:.2f}) than {100 * UNUSUAL:g}% of them ({drift['threshold']:.2f}); the input is unlike "
            "anything it was trained on, so trust this forecast less (lstmcast inspect shows the drift over time)")

