"""Every config key with its default and meaning, read from the schema, for `lstmcast config` (a test holds this
list, the schema and the README's table to each other)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lstmcast.config.schema import (
    DataConfig,
    HeadConfig,
    ManyToOneConfig,
    Seq2SeqConfig,
    SplitConfig,
    TrainingConfig,
)

MEANING = {
    "data.path": "the CSV (relative to the config file); --data overrides it",
    "data.date_column": "the date column (observation_date for FRED)",
    "data.target": "the column to forecast; always the first input",
    "data.features": "extra input columns, by name",
    "data.series_column": "long files: the column of series ids (e.g. Ticker)",
    "data.series": "the series: one id (AAPL), a list of ids, or all (one global model over a panel)",
    "data.layout": "long (a row per series and date) or wide (a column per series)",
    "data.future_covariates": "calendar features known ahead: day_of_week, month, days_to_month_end, holiday",
    "data.static_covariates": "panels: series (the id) and long-file columns constant per series (e.g. Sector)",
    "data.missing": "error, ffill (carry the last value forward) or drop",
    "data.transform": "target transform: none, log, log_return, pct_change, diff",
    "data.feature_transform": "the same, for the extra features",
    "data.scaler": "standard, minmax, robust, none; fitted on the training rows",
    "data.lookback": "steps in each input window",
    "data.horizon": "steps forecast from each window",
    "data.split.validation": "fraction of rows, or the first date of the validation split",
    "data.split.test": "fraction of rows, or the first date of the test split",
    "data.calendar": "exchange code (XNYS, XNAS, ...): forecasts dated on its trading sessions",
    "data.sep": "CSV separator",
    "data.decimal": "decimal mark; with ',' a '.' may only group thousands (1.234,5)",
    "data.date_format": "strftime format of the dates, when not ISO 8601 or unambiguous",
    "model.kind": "many_to_one or seq2seq",
    "model.hidden_size": "as in torch.nn.LSTM",
    "model.num_layers": "as in torch.nn.LSTM",
    "model.dropout": "between LSTM layers, training only",
    "model.proj_size": "LSTM projection size (0: none); h and the output are projected, c is not",
    "model.embedding_size": "width of each static covariate's learned embedding",
    "model.teacher_forcing": "seq2seq only: share of decoder steps fed the truth in training",
    "model.head.kind": "point, normal, student_t (learned tails) or quantile: what each step emits",
    "model.head.levels": "quantile head: increasing levels in (0, 1) with 0.5, e.g. [0.1, 0.5, 0.9]",
    "training.optimizer": "adam or adamw",
    "training.learning_rate": "optimizer step size",
    "training.weight_decay": "L2 penalty (decoupled for adamw)",
    "training.batch_size": "windows per batch",
    "training.epochs": "most epochs (early stopping may end sooner)",
    "training.grad_clip": "max gradient norm (0: off)",
    "training.patience": "early stopping on the validation loss (0: off); the best weights are kept",
    "training.loss": "point head: mse, mae or huber (scaled values); nll or pinball follow the head (default)",
    "training.seed": "same seed and thread count give bitwise-identical weights on CPU",
    "training.device": "auto, cpu or cuda",
    "training.threads": "CPU threads (fix it for bitwise repeatability across machines)",
    "training.amp": "none, bf16 or fp16 autocast (fp16 on CUDA only)",
    "training.final": "after evaluating, refit on all rows for the best epoch count and save that model",
}
SECTIONS = {"data": DataConfig, "data.split": SplitConfig, "model": Seq2SeqConfig, "model.head": HeadConfig,
            "training": TrainingConfig}
SUBSECTIONS = ("split", "head")


def config_keys() -> list[dict[str, Any]]:
    """key, default (None when required or unset) and meaning, in the schema's order."""
    rows = []
    for prefix, model in SECTIONS.items():
        for name, field in model.model_fields.items():
            if name in SUBSECTIONS or (prefix == "model" and name not in _model_keys()):
                continue
            default = field.default if field.default is not PydanticUndefined else None
            rows.append({"key": f"{prefix}.{name}", "required": field.is_required(), "default": _plain(default),
                         "meaning": MEANING[f"{prefix}.{name}"]})
    return rows


def _model_keys() -> list[str]:
    return list(dict.fromkeys([*ManyToOneConfig.model_fields, *Seq2SeqConfig.model_fields]))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return list(value) if isinstance(value, tuple) else value
