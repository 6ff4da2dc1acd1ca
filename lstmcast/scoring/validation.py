"""A trained run scored walk-forward over its validation split, in the user's units: what `lstmcast tune
--objective backtest` ranks trials by (the test split stays untouched for the final comparison)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmcast.runs.load import open_run, run_data, run_members
from lstmcast.scoring.splits import test_scores


def validation_mase(run_dir: Path) -> float:
    """At every validation origin the model forecasts from the rows up to it (as a backtest without refits does);
    MASE, the mean over horizon steps of MAE_k over the in-sample k-step naive MAE, and for a panel the mean over
    its series."""
    run = open_run(run_dir)
    members = run_members(run, list(run.meta.panel.series), command="lstmcast tune") if run.is_panel else {
        run.meta.target: run_data(run, command="lstmcast tune")}
    return float(np.mean([test_scores(run.model, series, prepared, run.config, "validation")[0].overall["model"]["mase"]
                          for series, prepared in members.values()]))
