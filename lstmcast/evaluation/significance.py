"""The Diebold-Mariano test of equal predictive accuracy, with the Harvey-Leybourne-Newbold correction."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, *, lags: int) -> dict[str, Any]:
    """Test of equal expected loss at the same origins (loss_* [n], e.g. squared errors).

    `lags`: autocovariances kept in the long-run variance (h - 1 for h-step forecasts from consecutive origins), with
    the uniform (truncated) kernel of Diebold and Mariano. A negative statistic means `a` has the smaller loss. The
    p-value is two-sided, from Student's t with n - 1 degrees of freedom. When the long-run variance estimate is not
    positive (the truncated kernel can make it so), the test is not computable and says why."""
    keep = np.isfinite(loss_a) & np.isfinite(loss_b)
    d = loss_a[keep] - loss_b[keep]
    n = len(d)
    if n < 3 or n <= 2 * lags + 1:
        return {"statistic": None, "p_value": None, "n": n, "note": f"too few origins ({n}) for {lags} lag(s)"}
    variance = long_run_variance(d, lags)
    if not variance > 0:
        note = ("the forecasts have identical losses" if not np.any(d) else
                f"the long-run variance estimate with {lags} lag(s) is not positive")
        return {"statistic": None, "p_value": None, "n": n, "note": f"not computable: {note}"}
    horizon = lags + 1
    statistic = d.mean() / math.sqrt(variance / n)
    statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    return {"statistic": float(statistic), "p_value": float(2 * stats.t.sf(abs(statistic), df=n - 1)), "n": n,
            "note": None}


def long_run_variance(d: np.ndarray, lags: int) -> float:
    """gamma_0 + 2 * sum of gamma_j for j = 1 .. lags (autocovariances with divisor n)."""
    n = len(d)
    centred = d - d.mean()
    gamma = [float(centred @ centred) / n] + [float(centred[j:] @ centred[:-j]) / n for j in range(1, lags + 1)]
    return gamma[0] + 2 * sum(gamma[1:])

