"""Typed, frozen run configuration. Validated once, at the edge; the rest of the code trusts these types."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Transform = Literal["none", "log", "log_return", "pct_change", "diff"]
FutureCovariate = Literal["day_of_week", "month", "days_to_month_end", "holiday"]
FUTURE_COLUMNS = {  # the columns each future-known covariate takes per date
    "day_of_week": ("day_of_week_sin", "day_of_week_cos"),  # a point on a circle: Friday sits next to Monday
    "month": ("month_sin", "month_cos"),
    "days_to_month_end": ("days_to_month_end",),
    "holiday": ("holiday_after", "holiday_before"),  # the session follows, or precedes, a closed weekday
}
Scaler = Literal["standard", "minmax", "robust", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SplitConfig(_Frozen):
    """Where validation and test begin: a fraction of the rows, or the first date of that split."""

    validation: Union[float, dt.date] = 0.15
    test: Union[float, dt.date] = 0.15

    @field_validator("validation", "test")
    @classmethod
    def _fraction_range(cls, value: float | dt.date) -> float | dt.date:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("a fraction must lie strictly between 0 and 1 (or give a date such as 2015-01-02)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SplitConfig":
        both_fractions = isinstance(self.validation, float) and isinstance(self.test, float)
        if both_fractions and self.validation + self.test >= 0.9:
            raise ValueError("validation + test must leave at least 10% of the rows for training")
        both_dates = isinstance(self.validation, dt.date) and isinstance(self.test, dt.date)
        if both_dates and self.validation >= self.test:
            raise ValueError("the validation start date must come before the test start date")
        return self


class DataConfig(_Frozen):
    path: Path
    date_column: str = Field(default="Date", min_length=1, max_length=200)
    target: str = Field(min_length=1, max_length=200)
    features: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(default=(), max_length=1000)
    series_column: str | None = Field(default=None, max_length=200)
    series: str | tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] | None = None
    layout: Literal["long", "wide"] = "long"
    future_covariates: tuple[FutureCovariate, ...] = Field(default=(), max_length=4)
    static_covariates: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(default=(),
                                                                                              max_length=20)
    missing: Literal["error", "ffill", "drop"] = "error"
    transform: Transform = "log_return"
    feature_transform: Transform = "none"
    scaler: Scaler = "standard"
    lookback: int = Field(default=64, gt=0, le=10_000)
    horizon: int = Field(default=1, gt=0, le=1_000)
    split: SplitConfig = SplitConfig()
    calendar: str | None = None
    sep: str = Field(default=",", min_length=1, max_length=1)
    decimal: str = Field(default=".", min_length=1, max_length=1)
    date_format: str | None = Field(default=None, max_length=100)

    @field_validator("path")
    @classmethod
    def _no_nul(cls, value: Path) -> Path:
        if "\x00" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value

    @field_validator("calendar")
    @classmethod
    def _exchange_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_/]{2,12}", value):
            raise ValueError("an exchange calendar code such as XNYS, XNAS, XLON or XTKS")
        return value

    @field_validator("series")
    @classmethod
    def _series_ids(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(value, str) and not 1 <= len(value) <= 200:
            raise ValueError("a series id of 1 to 200 characters, a list of ids, or all")
        if isinstance(value, tuple) and (not value or len(set(value)) != len(value)):
            raise ValueError("list each series once, and at least one" if value else "an empty list selects nothing; "
                             "list the series, or write all")
        return value

    @model_validator(mode="after")
    def _series_pair(self) -> "DataConfig":
        if self.layout == "wide":
            if self.series_column is not None or self.features:
                raise ValueError("a wide file holds one value per series and date (a column per series), so it has "
                                 "no data.series_column or data.features; use a long file for those")
            if self.series is None or (isinstance(self.series, str) and self.series != "all"):
                raise ValueError("data.layout: wide needs data.series: all, or a list of the columns to use")
        elif self.series is not None and self.series_column is None:
            raise ValueError("data.series needs data.series_column (the column that holds the ids, e.g. Ticker)")
        self._check_covariates()
        if self.target in self.features:
            raise ValueError(f"the target {self.target!r} is always an input; remove it from data.features")
        if len(set(self.features)) != len(self.features):
            raise ValueError("data.features lists a column twice")
        if self.sep == self.decimal:
            raise ValueError("data.sep and data.decimal must differ")
        return self

    def _check_covariates(self) -> None:
        if len(set(self.future_covariates)) != len(self.future_covariates):
            raise ValueError("data.future_covariates lists a feature twice")
        if "holiday" in self.future_covariates and self.calendar is None:
            raise ValueError("the holiday covariate reads the exchange's trading calendar: set data.calendar (e.g. "
                             "XNYS)")
        statics = self.static_covariates
        if len(set(statics)) != len(statics):
            raise ValueError("data.static_covariates lists a covariate twice")
        if statics and not self.is_panel:
            raise ValueError("static covariates describe each series of a panel (data.series: all or a list); a "
                             "single series has nothing to tell apart")
        columns = [name for name in statics if name != "series"]
        if columns and self.layout == "wide":
            raise ValueError(f"a wide file has no column {columns[0]!r} per series; a wide panel takes "
                             "static_covariates: [series] only (use a long file for sector and the like)")
        taken = {self.date_column, self.target, *self.features, self.series_column}
        if any(name in taken for name in columns):
            raise ValueError("a static covariate is a column of its own, not the date, the target, a feature or the "
                             "series column")

    @property
    def is_panel(self) -> bool:
        """Several series for one global model: a list of ids, all of them, or a wide file."""
        return self.layout == "wide" or self.series == "all" or isinstance(self.series, tuple)

    @property
    def columns(self) -> list[str]:
        """The model's value columns in order: the target first, then the extra features (past covariates)."""
        return [self.target, *self.features]

    @property
    def known_columns(self) -> list[str]:
        """One date's future-known calendar columns (K); a window row holds them for its date and the next horizon."""
        return [column for name in self.future_covariates for column in FUTURE_COLUMNS[name]]


HeadKind = Literal["point", "normal", "student_t", "quantile"]


class HeadConfig(_Frozen):
    """What the model emits per horizon step: a point forecast, or a predictive distribution (normal, student_t
    with learned degrees of freedom, or a set of quantile levels that includes the median 0.5)."""

    kind: HeadKind = "point"
    levels: tuple[float, ...] | None = Field(default=None, min_length=3, max_length=99)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"kind": value} if isinstance(value, str) else value  # head: normal

    @model_validator(mode="after")
    def _levels(self) -> "HeadConfig":
        if self.kind != "quantile":
            if self.levels is not None:
                raise ValueError(f"levels belong to a quantile head, not to kind: {self.kind}")
            return self
        levels = self.levels
        if levels is None:
            raise ValueError("a quantile head needs levels, e.g. [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]")
        if any(not 0.0 < level < 1.0 for level in levels):
            raise ValueError("quantile levels must lie strictly between 0 and 1 (0.9, not 90)")
        if len(set(levels)) != len(levels):
            raise ValueError("a quantile level is listed twice")
        if list(levels) != sorted(levels):
            raise ValueError("list the quantile levels in increasing order")
        if 0.5 not in levels:
            raise ValueError("the quantile levels must include 0.5: the median is the point forecast")
        return self


class _LSTMConfig(_Frozen):
    hidden_size: int = Field(default=64, gt=0, le=8192)
    num_layers: int = Field(default=2, gt=0, le=16)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    proj_size: int = Field(default=0, ge=0)
    embedding_size: int = Field(default=4, gt=0, le=256)
    head: HeadConfig = HeadConfig()

    @model_validator(mode="after")
    def _proj_smaller(self) -> "_LSTMConfig":
        if self.proj_size >= self.hidden_size:
            raise ValueError("proj_size must be smaller than hidden_size (0 turns projection off)")
        return self


class ManyToOneConfig(_LSTMConfig):
    """A stacked LSTM whose last top-layer output feeds a linear head emitting the whole horizon."""

    kind: Literal["many_to_one"]

    @property
    def teacher_forcing(self) -> float:
        return 0.0  # the head emits the whole horizon at once: there are no decoder steps to feed


class Seq2SeqConfig(_LSTMConfig):
    """An encoder LSTM hands (h, c) to a decoder LSTM that emits the horizon one step at a time."""

    kind: Literal["seq2seq"]
    teacher_forcing: float = Field(default=0.5, ge=0.0, le=1.0)


ModelConfig = Annotated[Union[ManyToOneConfig, Seq2SeqConfig], Field(discriminator="kind")]


class TrainingConfig(_Frozen):
    optimizer: Literal["adam", "adamw"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(default=0.0, ge=0.0, le=10.0)
    batch_size: int = Field(default=256, gt=0, le=1_000_000)
    epochs: int = Field(default=50, gt=0, le=100_000)
    grad_clip: float = Field(default=1.0, ge=0.0, le=1e6)
    patience: int = Field(default=10, ge=0, le=100_000)
    loss: Literal["mse", "mae", "huber", "nll", "pinball"] | None = None  # None: the head's own (mse for a point)
    seed: int = Field(default=0, ge=0, lt=2**63)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, gt=0, le=1024)
    amp: Literal["none", "bf16", "fp16"] = "none"
    final: bool = False  # after evaluating, refit on every row for the best epoch count; that model is saved


POINT_LOSSES = ("mse", "mae", "huber")
HEAD_LOSS = {"normal": "nll", "student_t": "nll", "quantile": "pinball"}


class RunConfig(_Frozen):
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _loss_fits_head(self) -> "RunConfig":
        """A head is trained by its own loss: a distribution by its likelihood, quantiles by the pinball loss."""
        head, loss = self.model.head.kind, self.training.loss
        if loss is None:
            return self
        if head == "point" and loss not in POINT_LOSSES:
            raise ValueError(f"training.loss: {loss} needs a probabilistic head (model.head: "
                             f"{'normal or student_t' if loss == 'nll' else 'quantile'}); a point head trains with "
                             "mse, mae or huber")
        if head != "point" and loss != HEAD_LOSS[head]:
            raise ValueError(f"training.loss: {loss} cannot train a {head} head; it trains with {HEAD_LOSS[head]} "
                             "(or leave training.loss out)")
        return self
