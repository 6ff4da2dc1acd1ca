"""Number cells -> floats, strictly: decimal commas only where the whole cell says so, no infinities, no values
beyond what float32 model inputs can mean."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lstmcast.data.dates import MISSING_TOKENS, SHOWN, lines
from lstmcast.errors import DataError, quote

INFINITE_TOKENS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
MAX_ABS_VALUE = 1e15  # prices, rates, volumes; beyond this, float32 model inputs and transforms lose meaning


def numeric(cells: pd.Series, path: Path, column: str, decimal: str) -> pd.Series:
    """A column of numbers (missing tokens become NaN, for data.missing to handle); anything else is refused."""
    text = original = cells.str.strip()
    if decimal != ".":
        _check_grouping(text, path, column, decimal)
        text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
    lowered = text.str.lower()
    infinite = lowered.isin(INFINITE_TOKENS)
    if infinite.any():
        raise DataError(
            f"{path}: column {quote(column)}: infinite values on line(s) {lines(text.index[infinite])}; "
            "replace them with real numbers or remove the rows"
        )
    missing = lowered.isin(MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        examples = ", ".join(f"line {i}: {quote(original[i], limit=30)}" for i in text.index[bad][:SHOWN])
        more = f" and {int(bad.sum()) - SHOWN} more" if bad.sum() > SHOWN else ""
        hint = " (decimal commas? set data.decimal and data.sep)" if original[bad].str.contains(",").any() else ""
        raise DataError(f"{path}: column {quote(column)}: not a number ({examples}{more}){hint}; "
                        "fix or remove those cells")
    huge = np.abs(numbers.to_numpy(dtype="float64")) > MAX_ABS_VALUE
    if huge.any():
        raise DataError(f"{path}: column {quote(column)}: values beyond ±1e15 on line(s) {lines(text.index[huge])}; "
                        "rescale the column (e.g. to millions) or fix those cells")
    return numbers.astype("float64")


def _check_grouping(text: pd.Series, path: Path, column: str, decimal: str) -> None:
    """With decimal commas a '.' may only group thousands (1.234,5): '12.5' would otherwise turn into 125."""
    dotted = text.str.contains(".", regex=False, na=False)
    grouped = text.str.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(" + re.escape(decimal) + r"\d*)?", na=False)
    bad = dotted & ~grouped & text.str.contains(r"\d", na=False)  # '.' alone is a missing value; 'n.a.' no number
    if bad.any():
        examples = ", ".join(f"line {i}: {quote(text[i], limit=30)}" for i in text.index[bad][:SHOWN])
        raise DataError(f"{path}: column {quote(column)}: data.decimal is {decimal!r}, so '.' can only separate "
                        f"thousands, as in 1.234{decimal}5; these cells use it otherwise ({examples}); check "
                        "data.decimal, or fix those cells")
