"""meta.json as a typed record: validated when read, so a damaged or edited file is one clear error (exit 4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lstmcast.config.schema import Scaler as ScalerKind
from lstmcast.config.schema import Transform
from lstmcast.data.calendar import FREQUENCY
from lstmcast.data.windows import SPLITS
from lstmcast.errors import ModelFileError, clean
from lstmcast.files.reading import MiB, read_regular
from lstmcast.runs.layout import READABLE_VERSIONS

LIMIT = 1e15  # a scaler parameter beyond this cannot come from real prices or returns
SHA256 = r"[0-9a-f]{64}"
Split = Literal["train", "validation", "test"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class ScalerMeta(_Record):
    kind: ScalerKind
    center: list[float] = Field(min_length=1, max_length=1000)
    scale: list[float] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _sane(self) -> "ScalerMeta":
        if len(self.center) != len(self.scale):
            raise ValueError("center and scale must have one value per column")
        if any(abs(c) > LIMIT for c in self.center) or any(not 0 < s <= LIMIT for s in self.scale):
            raise ValueError("center must lie within ±1e15 and scale in (0, 1e15]")
        return self


class DataMeta(_Record):
    path: str = Field(max_length=4096, pattern=r"^[^\x00]*$")
    sha256: str = Field(pattern=SHA256)
    rows: int = Field(ge=1, le=10**9)
    first_date: dt.date
    last_date: dt.date


class SplitRows(_Record):
    train_end: int = Field(ge=1)
    validation_end: int = Field(ge=1)


class ConformalMeta(_Record):
    """The evaluated model's validation conformity scores, for conformal intervals (predict --levels): residuals of
    a point head, |PIT - 0.5| of a probabilistic head's paths, and CQR scores at a quantile head's level pairs."""

    scale: Literal["log_ratio", "difference", "pit"]  # pit: |PIT - 0.5| of a probabilistic head's sample paths
    scores: list[list[float]] = Field(min_length=1, max_length=1_000)  # per horizon step: sorted |residuals|
    samples: Optional[int] = Field(default=None, ge=1, le=1_000_000)  # paths per window behind "pit" and "cqr"
    cqr_scale: Optional[Literal["log_ratio", "difference"]] = None
    cqr: Optional[dict[str, list[list[float]]]] = Field(default=None, max_length=99)  # "80": per step, sorted

    @model_validator(mode="after")
    def _sane(self) -> "ConformalMeta":
        if any(not row or any(not 0 <= v <= LIMIT for v in row) for row in self.scores):
            raise ValueError("conformal scores must be non-empty lists of finite non-negative numbers")
        for rows in (self.cqr or {}).values():  # CQR scores may be negative (an interval wider than needed)
            if len(rows) != len(self.scores) or any(not row or any(not abs(v) <= LIMIT for v in row) for row in rows):
                raise ValueError("CQR scores must be one non-empty list of finite numbers per horizon step")
        if (self.cqr is None) != (self.cqr_scale is None):
            raise ValueError("cqr and cqr_scale come together")
        return self


class FinalFit(_Record):
    """training.final: the saved model was refit on every row after the evaluation (test_metrics are the evaluated
    model's, before that refit)."""

    epochs: int = Field(ge=1, le=100_000)
    windows: int = Field(ge=1)
    last_date: dt.date


class PanelSeriesMeta(_Record):
    """One series of a panel run: its own scaler (the saved model's), its rows and its test scores."""

    scaler: ScalerMeta
    rows: int = Field(ge=1, le=10**9)
    first_date: dt.date
    last_date: dt.date
    windows: dict[Split, Annotated[int, Field(ge=0, le=10**9)]]
    test_metrics: dict[str, dict[str, Optional[float]]]
    conformal: Optional[ConformalMeta] = None  # this series' validation scores, for predict --levels


class PanelMeta(_Record):
    """A global model over several series: the shared cut-off dates, each series, the skipped ones and why, and the
    pooled Diebold-Mariano tests (the pooled metrics are the run's test_metrics)."""

    layout: Literal["long", "wide"]
    validation_start: dt.date
    test_start: dt.date
    series: dict[str, PanelSeriesMeta] = Field(min_length=1, max_length=100_000)
    skipped: dict[str, str] = Field(default_factory=dict, max_length=100_000)
    tests: dict[str, dict[str, Optional[float | int | str]]] = Field(default_factory=dict)
    # each static covariate's values in code order ("series": the ids): what the model's embeddings are indexed by
    statics: dict[str, list[str]] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> "PanelMeta":
        if self.validation_start > self.test_start:
            raise ValueError("the validation cut-off comes after the test cut-off")
        if set(self.series) & set(self.skipped):
            raise ValueError("a series is both trained on and skipped")
        return self


class RunMeta(_Record):
    """What a run directory says about itself (format 1 from lstmcast 0.1.0, format 2 since)."""

    format_version: int
    lstmcast_version: str = Field(max_length=50)
    torch_version: str = Field(default="", max_length=50)
    created: str = Field(default="", max_length=50)
    model_kind: Literal["many_to_one", "seq2seq"]
    parameters: int = Field(ge=0, le=10**11)
    columns: list[str] = Field(min_length=1, max_length=1000)
    target: str
    transforms: dict[str, Transform]
    scaler: Optional[ScalerMeta] = None  # None for a panel: each series has its own (panel.series[...].scaler)
    lookback: int = Field(gt=0, le=10_000)
    horizon: int = Field(gt=0, le=1_000)
    frequency: str
    calendar: Optional[str] = None
    data: DataMeta
    split_rows: Optional[SplitRows] = None  # None for a panel: one cut-off date for all (panel.*_start)
    windows: dict[Split, Annotated[int, Field(ge=0, le=10**9)]]
    target_dates: dict[Split, tuple[dt.date, dt.date]]  # first and last target date of each split
    seed: int = Field(ge=0)
    threads: int = Field(ge=1, le=1024)  # per process
    ranks: int = Field(default=1, ge=1, le=1_000_000)  # data-parallel processes (torchrun) that trained the model
    device: str = Field(max_length=50)
    best_epoch: int = Field(ge=1)
    epochs_run: int = Field(ge=1)
    stopped_early: bool
    best_validation_loss: float
    test_metrics: dict[str, dict[str, Optional[float]]]
    test_always_up: Optional[float] = None  # directional accuracy of always calling "up" on the test targets
    config_sha256: Optional[str] = Field(default=None, pattern=SHA256)
    weights_sha256: Optional[str] = Field(default=None, pattern=SHA256)
    meta_sha256: Optional[str] = Field(default=None, pattern=SHA256)  # of this record without this field
    final_fit: Optional[FinalFit] = None
    conformal: Optional[ConformalMeta] = None
    panel: Optional[PanelMeta] = None

    @field_validator("format_version")
    @classmethod
    def _readable(cls, value: int) -> int:
        if value not in READABLE_VERSIONS:
            raise ValueError(f"run format version {value} is not supported by this lstmcast (it reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}); retrain with this version")
        return value

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str) -> str:
        if not FREQUENCY.fullmatch(value):
            raise ValueError("not a frequency lstmcast writes (B, D, W-FRI, MS, BME, QE, QS-FEB, YE-JUN, "
                             "months=N, ...)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "RunMeta":
        if len(set(self.columns)) != len(self.columns) or self.target != self.columns[0]:
            raise ValueError("columns must be distinct and start with the target")
        scalers = [self.scaler] if self.panel is None else [member.scaler for member in self.panel.series.values()]
        if any(scaler is None for scaler in scalers) or (self.panel is None) == (self.split_rows is None):
            raise ValueError("a single-series run records its scaler and split rows; a panel run its series instead")
        if set(self.transforms) != set(self.columns) or any(len(s.center) != len(self.columns) for s in scalers):
            raise ValueError("transforms and scaler must have one entry per column")
        rows = self.split_rows
        if (rows is not None and rows.train_end > rows.validation_end) or self.best_epoch > self.epochs_run:
            raise ValueError("split rows or epochs are out of order")
        if set(self.windows) != set(SPLITS) or set(self.target_dates) != set(SPLITS):
            raise ValueError(f"windows and target_dates need exactly the splits {', '.join(SPLITS)}")
        if self.conformal is not None and len(self.conformal.scores) != self.horizon:
            raise ValueError("conformal scores need one list per horizon step")
        if any(first > last for first, last in self.target_dates.values()):
            raise ValueError("target_dates: a split ends before it starts")
        if (self.panel is not None) != (self.format_version == 5):
            raise ValueError("format 5 is a panel run's, and only a panel run's")
        if self.format_version >= 2 and not (self.config_sha256 and self.weights_sha256):
            raise ValueError("format 2 records config_sha256 and weights_sha256")
        written_by = {1: "0.1.", 2: "0.2."}.get(self.format_version)
        if written_by and not self.lstmcast_version.startswith(written_by):  # an older format claimed to skip checks
            raise ValueError(f"format {self.format_version} was written only by lstmcast {written_by[:-1]}, not "
                             f"{self.lstmcast_version[:20]}")
        if not math.isfinite(self.best_validation_loss):
            raise ValueError("best_validation_loss must be finite")
        return self

    @property
    def trained_until(self) -> dt.date:
        """The last date whose value the saved model has seen as a target."""
        return self.final_fit.last_date if self.final_fit else self.target_dates["train"][1]

    @property
    def verified(self) -> bool:
        """Whether config.yaml and the weights can be checked against this record (format 2 and later)."""
        return self.format_version >= 2


def meta_digest(record: dict) -> str:
    """SHA-256 of a meta.json record without its own meta_sha256: an edited scaler or frequency would otherwise turn
    every forecast silently wrong."""
    body = {key: value for key, value in record.items() if key != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sealed(meta: RunMeta) -> dict:
    """meta.json's content: the record with its digest."""
    record = meta.model_dump(mode="json", exclude={"meta_sha256"})
    return {**record, "meta_sha256": meta_digest(record)}


def read_meta(path: Path) -> RunMeta:
    """Read and validate meta.json; any problem is a ModelFileError naming the field."""
    raw = read_regular(path, limit=16 * MiB, error=ModelFileError,
                       missing="missing; is this a run directory written by `lstmcast train`?")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else clean(exc, limit=120)
        raise ModelFileError(f"{path}: unreadable or corrupt JSON ({reason}); retrain or copy the run again") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object; retrain or copy the run again")
    try:
        meta = RunMeta.model_validate(data)
    except (ValidationError, RecursionError) as exc:
        raise ModelFileError(f"{path}: {_problems(exc)}; the run directory is damaged or was edited: retrain or copy "
                             "it again") from None
    if meta.format_version >= 3 and meta_digest(data) != meta.meta_sha256:
        raise ModelFileError(f"{path}: does not match its recorded meta_sha256 (it was edited after training), so the "
                             "scaler, dates or columns it gives may not be the trained model's; restore it, or retrain")
    return meta


def _problems(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return "nested too deeply"
    errors = exc.errors()
    shown = [f"{'.'.join(clean(p) for p in e['loc']) or 'meta'}: {e['msg'].removeprefix('Value error, ')}"
             for e in errors[:3]]
    return "; ".join(shown) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")

