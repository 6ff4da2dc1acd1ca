"""Everything `lstmcast inspect` measures about a run on a period, from its recorded states and two controls.

The states analysed are each window's encoder state at its last step: the state its forecast is made from, dated by
the forecast origin. Probes and the drift reference are fitted on the training split's windows; tracking, probe
scores, attribution and drift are read on the inspected period. Shape legend: N windows, L layers, T steps."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmcast.data.windows import Prepared
from lstmcast.introspect.attribution import Attribution, attribute
from lstmcast.introspect.drift import DriftReference, evenly_spaced, final_states, flat_state
from lstmcast.introspect.period import PeriodStates
from lstmcast.introspect.probes import probe_table
from lstmcast.introspect.quantities import named_quantities
from lstmcast.introspect.tracking import tracking_table

CONTROL_SEED = 0
MIN_HELD_OUT = 20  # inspected windows after the training rows needed to score a probe
MIN_DEFINED = 20  # rows where a quantity is defined, of the fitting and of the inspected windows


@dataclass
class Inspection:
    about: dict[str, str]  # quantity -> its definition
    tracking: pd.DataFrame
    tracking_units: pd.DataFrame
    probes: Optional[pd.DataFrame]  # None when too few inspected windows lie after the training rows
    attribution: Attribution
    attributed_rows: np.ndarray  # the windows (last rows) attributed
    drift: pd.DataFrame  # per inspected window: distance, training quantile, unusual
    drift_threshold: float
    notes: list[str] = field(default_factory=list)


def random_twin(model: nn.Module, seed: int = CONTROL_SEED) -> nn.Module:
    """The same model with its LSTMs re-initialised as torch initialises them (heads and embeddings kept)."""
    twin = copy.deepcopy(model)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    for module in twin.modules():
        if isinstance(module, nn.LSTM):
            module.reset_parameters()
    torch.random.set_rng_state(generator_state)
    return twin.eval()


def by_layer(h: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """[N, L, .] states as named feature sets: "h layer 0", "c layer 0", ..."""
    return {f"{kind} layer {layer}": values[:, layer] for layer in range(h.shape[1])
            for kind, values in (("h", h), ("c", c))}


def _defined(quantities: dict[str, np.ndarray], where: dict[str, np.ndarray], notes: list[str]) -> dict:
    """The quantities defined on enough of the fitting and inspected rows (a volume column blank over a stretch, a
    volatility before its window fills); each one left out is noted."""
    kept = {}
    for name, values in quantities.items():
        short = [f"{int(np.isfinite(values[rows]).sum())} of the {len(rows)} {part}" for part, rows in where.items()
                 if np.isfinite(values[rows]).sum() < MIN_DEFINED]
        if short:
            notes.append(f"{name} left out: defined on only {' and '.join(short)} (at least {MIN_DEFINED} needed)")
        else:
            kept[name] = values
    return kept


def analyse(model: nn.Module, prepared: Prepared, period: PeriodStates, *, train_rows: np.ndarray,
            train_last: pd.Timestamp, volume: Optional[np.ndarray], errors: np.ndarray, attributed: int) -> Inspection:
    """All the analyses of `period` (recorded from `model` on `prepared`). `train_rows`: the training windows the
    probes and the drift reference are fitted on, whose targets end at `train_last`; `attributed` windows, evenly
    spaced, get attributions; `volume` [M] (where the data has one) and `errors` [M] (each row's one-step forecast
    error, NaN where not computed) are aligned with the prepared rows."""
    notes: list[str] = []
    quantities, about = named_quantities(prepared.raw[:, 0], volume=volume, forecast_error=errors)
    quantities = _defined(quantities, {"training windows": train_rows, "inspected windows": period.rows}, notes)
    values, twin = len(prepared.columns), random_twin(model)
    x_train, x_period = prepared.windows_at(train_rows), prepared.windows_at(period.rows)
    trained_fit = final_states(model, x_train)
    random_fit, random_period = final_states(twin, x_train), final_states(twin, x_period)
    raw = {"train": x_train[..., :values].reshape(len(x_train), -1).numpy(),
           "period": x_period[..., :values].reshape(len(x_period), -1).numpy()}
    at_period = {name: q[period.rows] for name, q in quantities.items()}
    tracking, units = tracking_table(by_layer(period.h, period.c), by_layer(*random_period), raw["period"], at_period)
    held = period.dates > np.datetime64(train_last)  # dated after every training target: out of the probes' fit
    probes = None
    if held.sum() >= MIN_HELD_OUT:
        fit = {"trained": by_layer(*trained_fit), "random_lstm": by_layer(*random_fit),
               "raw_window": {"window": raw["train"]}}
        kept = {"trained": by_layer(period.h[held], period.c[held]),
                "random_lstm": by_layer(random_period[0][held], random_period[1][held]),
                "raw_window": {"window": raw["period"][held]}}
        probes = probe_table(fit, kept, {n: q[train_rows] for n, q in quantities.items()},
                             {n: q[held] for n, q in at_period.items()})
    else:
        notes.append(f"probes not scored: only {int(held.sum())} inspected windows end after the last training "
                     f"target ({train_last.date()}); at least {MIN_HELD_OUT} needed: inspect a later period")
    reference = DriftReference.fit(flat_state(*trained_fit))
    drift = pd.DataFrame({"date": period.dates, **reference.assess(flat_state(period.h, period.c))})
    picked = evenly_spaced(len(period.rows), attributed)
    attribution = attribute(model, x_period[picked].clone(), values)
    return Inspection(about, tracking, units, probes, attribution, period.rows[picked], drift, reference.threshold,
                      notes)
