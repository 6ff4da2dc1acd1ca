"""Per-column affine scalers fitted on the training rows only; plain numbers, so a run stores them as JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcast.errors import DataError, quote


@dataclass(frozen=True)
class Scaler:
    """(x - center) / scale per column."""

    kind: str
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str, train: np.ndarray, *, columns: list[str]) -> "Scaler":
        if kind == "none":
            return cls(kind, np.zeros(train.shape[1]), np.ones(train.shape[1]))
        if kind == "standard":
            center, scale = train.mean(axis=0), train.std(axis=0)
        elif kind == "minmax":
            center, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
        elif kind == "robust":
            q1, median, q3 = np.percentile(train, [25, 50, 75], axis=0)
            center, scale = median, q3 - q1
        else:
            raise ValueError(f"unknown scaler {kind!r}")
        flat = [columns[i] for i in np.flatnonzero(~(scale > 1e-12 * np.maximum(1.0, np.abs(center))))]
        if flat:
            raise DataError(
                f"column(s) {', '.join(map(quote, flat))} are constant over the training rows after the transform, "
                f"so the {kind} scaler would divide by zero; remove them from data.features"
            )
        return cls(kind, center, scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center) / self.scale

    def to_json(self) -> dict:
        return {"kind": self.kind, "center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_lists(cls, kind: str, center: list[float], scale: list[float]) -> "Scaler":
        return cls(kind, np.asarray(center, dtype="float64"), np.asarray(scale, dtype="float64"))
