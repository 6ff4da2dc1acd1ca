"""What the inspection report says, section by section, and the tables written beside it. Takes the recorded period
and the analyses (read by attribute) and turns them into figures, sentences and tables.

Shape legend: N windows, L layers, K horizon steps, T lookback steps, F value columns."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from lstmcast.outputs import inspectfigures as figures
from lstmcast.outputs.inspectreport import Section

TOP = 12  # rows of the tables shown in the page (the CSVs hold every row)


def _dates(values: np.ndarray) -> list[str]:
    return [str(value)[:10] for value in values]


def tables(period: Any, inspection: Any) -> dict[str, pd.DataFrame]:
    """Every number behind the report, one CSV each."""
    attribution = inspection.attribution
    k, t = attribution.integrated.shape[1:3]
    lags = pd.DataFrame({"step": np.repeat(np.arange(1, k + 1), t), "lag": np.tile(np.arange(t), k),
                         "integrated_gradients_mean_abs": attribution.integrated_by_lag.ravel(),
                         "occlusion_mean_abs": attribution.occlusion_by_lag.ravel(),
                         "gradient_mean_abs": attribution.gradient_by_lag.ravel()})
    forecasts = pd.DataFrame({"origin_date": _dates(period.dates)})
    for step in range(period.prediction.shape[1]):
        forecasts[f"forecast_{step + 1}"] = period.prediction[:, step]
        forecasts[f"actual_{step + 1}"] = period.target[:, step]
    drift = inspection.drift.assign(date=_dates(inspection.drift["date"].to_numpy()))
    saturation = period.saturation
    out = {"forecasts": forecasts, "gate_saturation": saturation.gates(), "units": saturation.units(),
           "tracking": inspection.tracking, "tracking_units": inspection.tracking_units, "attribution_lags": lags,
           "completeness": pd.DataFrame({"origin_date": np.repeat(_dates(_origin_dates(period, inspection)), k),
                                         "step": np.tile(np.arange(1, k + 1), len(inspection.attributed_rows)),
                                         "change": attribution.change.ravel(),
                                         "relative_residual": attribution.residual.ravel()}),
           "drift": drift}
    if inspection.probes is not None:
        out["probes"] = inspection.probes
    if period.decoder_saturation is not None:
        out["decoder_gate_saturation"] = period.decoder_saturation.gates()
        out["decoder_units"] = period.decoder_saturation.units()
    return out


def _origin_dates(period: Any, inspection: Any) -> np.ndarray:
    return period.dates[np.searchsorted(period.rows, inspection.attributed_rows)]


def sections(meta: Any, columns: Sequence[str], period: Any, inspection: Any,
             orders: Sequence[np.ndarray]) -> list[Section]:
    dates = _dates(period.dates)
    return [_forecast(meta, dates, period, orders), _saturation(period, inspection),
            _tracking(inspection), _probes(inspection), _attribution(columns, period, inspection),
            _drift(dates, inspection)]


def _forecast(meta: Any, dates: list[str], period: Any, orders: Sequence[np.ndarray]) -> Section:
    return Section("states", "Forecasts and the states that made them",
                   "Each date is a forecast origin: the top panel shows the one-step forecast made there and the "
                   "value that followed; beneath it, on the same axis, every layer's h and c at that origin (the "
                   "state the forecast was read from), units ordered so that units moving together sit together. "
                   "Drag to zoom (the gates below and the drift figure follow the same dates); double-click to "
                   "reset.",
                   [figures.timeline(dates, period.prediction[:, 0], period.target[:, 0], period.h, period.c, orders,
                                     meta.target),
                    figures.gate_timeline(dates, period.gates, orders)])


def _saturation(period: Any, inspection: Any) -> Section:
    saturation = period.saturation
    units = saturation.units()
    lookback = inspection.attribution.gradient_by_lag.shape[1]
    per_layer = units.groupby("layer").agg(median_half_life=("half_life", "median"),
                                           units_over_lookback=("half_life", lambda v: int((v > lookback).sum())),
                                           mean_forget=("forget_mean", "mean"), c_saturated=("c_saturated", "mean"))
    per_layer["h_saturated"] = saturation.h_saturated().mean(1)
    gates = saturation.gates()
    shares = gates.groupby(["layer", "gate"])[["left_saturated", "right_saturated"]].mean().reset_index()
    lives = dict(per_layer["median_half_life"])
    return Section("saturation", "Gate saturation and memory",
                   "How often each gate is nearly shut (< 0.1) or nearly open (> 0.9), over every step of every "
                   "inspected window (Karpathy, Johnson & Fei-Fei 2015); how many steps each unit's cell takes to "
                   "halve under its own forget gate; and how far back the gradient of each forecast step reaches.",
                   [figures.saturation(gates), figures.half_life_histogram(units),
                    figures.memory(inspection.attribution.gradient_by_lag, lives,
                                   dict(enumerate(inspection.attribution.reach_lags)))],
                   [("Per layer (half-lives in steps; units_over_lookback: units whose half-life exceeds the "
                     "lookback)", per_layer.reset_index()),
                    ("Mean share of steps saturated, per gate", shares), *_decoder(period.decoder_saturation)])


def _decoder(saturation: Any) -> list[tuple[str, pd.DataFrame]]:
    """seq2seq: the decoder's gates, over every horizon step of every window (it starts from the encoder's state)."""
    if saturation is None:
        return []
    shares = saturation.gates().groupby(["layer", "gate"])[["left_saturated", "right_saturated"]].mean()
    units = saturation.units().groupby("layer").agg(median_half_life=("half_life", "median"),
                                                    mean_forget=("forget_mean", "mean"),
                                                    c_saturated=("c_saturated", "mean"))
    return [("Decoder: mean share of its horizon steps saturated, per gate (per unit: decoder_gate_saturation.csv)",
             shares.reset_index()),
            ("Decoder: per layer (half-lives in horizon steps; per unit: decoder_units.csv)", units.reset_index())]


def _tracking(inspection: Any) -> Section:
    table = inspection.tracking
    shown = table.sort_values("abs_r", ascending=False).groupby("quantity").head(1)
    return Section("tracking", "What units track",
                   "The largest |correlation| of any unit's state at the origin with each named quantity, beside "
                   "the same figure for a randomly initialised LSTM of the same shape fed the same windows and for "
                   "the raw input window itself. Only a unit that beats both controls tracks something the trained "
                   "model learned; the largest of many correlations is biased upward, and the controls share that "
                   "bias.",
                   [figures.controls(table, "abs_r", {"random_lstm_abs_r": "random LSTM",
                                                      "raw_window_abs_r": "raw window"}, "largest |r|")],
                   [("Best state per quantity (every state and unit: tracking.csv, tracking_units.csv)",
                     shown.drop(columns=["abs_r"]))],
                   [f"{name}: {about}" for name, about in inspection.about.items()])


def _probes(inspection: Any) -> Section:
    section = Section("probes", "Linear probes",
                      "A ridge regression from each layer's h or c to each quantity, fitted on the training windows "
                      "(penalty chosen on their last fifth) and scored by R^2 on the inspected windows after the "
                      "training rows; the same probe on the random LSTM's states and on the raw window are the "
                      "controls, and selectivity is R^2 minus the better control (Hewitt & Liang 2019). A negative "
                      "R^2 is worse than predicting the period's own mean.")
    if inspection.probes is None:
        section.lines += inspection.notes
        return section
    table = inspection.probes
    clipped = table.assign(**{column: table[column].clip(lower=-1) for column in ("r2", "random_lstm_r2",
                                                                                 "raw_window_r2")})
    section.figures.append(figures.controls(clipped, "r2", {
        "random_lstm_r2": "random LSTM", "raw_window_r2": "raw window"}, "held-out R^2 (clipped at -1)"))
    section.tables.append(("Most selective probes (all: probes.csv)",
                           table.sort_values("selectivity", ascending=False).head(TOP)))
    return section


def _attribution(columns: Sequence[str], period: Any, inspection: Any) -> Section:
    attribution = inspection.attribution
    by_column = np.abs(attribution.integrated).sum((1, 2)).mean(0)
    share = by_column / by_column.sum() if by_column.sum() > 0 else by_column
    return Section("attribution", "Attribution",
                   "Integrated gradients of each forecast step (scaled units) with respect to every input step and "
                   "column, from a baseline window at 0 in the scaled units (the training mean under the standard "
                   "scaler), averaged over "
                   f"{len(inspection.attributed_rows)} windows evenly spaced over the period; occlusion sets one "
                   "step's values to that baseline and measures the change in the forecast.",
                   [figures.attribution(attribution.integrated_by_lag, attribution.occlusion_by_lag,
                                        list(columns), share)],
                   lines=[f"Completeness: the attributions add up to the change in the forecast to a relative "
                          f"residual of {attribution.residual.max():.1e} at worst (mean "
                          f"{attribution.residual.mean():.1e}; completeness.csv has each window and step)."])


def _drift(dates: list[str], inspection: Any) -> Section:
    drift = inspection.drift
    last = drift.iloc[-1]
    flag = "UNUSUAL: farther than 99% of the training states" if last["unusual"] else "within the training range"
    return Section("drift", "State drift",
                   "The Mahalanobis distance of each origin's final state (every layer's h and c) to the states "
                   "the model reached at the end of its training windows (Ledoit-Wolf covariance), and the share "
                   "of training states that lay closer, each of those scored by a covariance fitted without it "
                   "(five time blocks), so a state like the training ones passes the 99% line about 1% of the "
                   "time.",
                   [figures.drift(dates, drift["distance"].to_numpy(), inspection.drift_threshold)],
                   lines=[f"Last origin {str(last['date'])[:10]}: distance {last['distance']:.2f}, training quantile "
                          f"{last['training_quantile']:.3f} ({flag}); {drift['unusual'].mean():.1%} of the "
                          "inspected origins lie beyond the training 99th percentile."])
