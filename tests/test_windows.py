from __future__ import annotations

import numpy as np
import pytest

from lstmcast.config import DataConfig
from lstmcast.data.reading import Series, load_series
from lstmcast.errors import DataError
from lstmcast.data.transforms import apply_transform, invert_target
from lstmcast.data.windows import prepare

from conftest import DATA


def msft(**options) -> tuple:
    data = DataConfig(path=DATA / "msft_daily_ohlcv.csv", target="Close", features=("High", "Volume"),
                      feature_transform="none", lookback=20, horizon=4, **options)
    series = load_series(data.path, date_column="Date", columns=["Close", "High", "Volume"])
    return series, data, prepare(series, data)


@pytest.mark.parametrize("scaler", ["standard", "minmax", "robust"])
def test_scaler_statistics_are_the_training_rows_own(scaler):
    series, data, prepared = msft(scaler=scaler)
    close = series.values["Close"].to_numpy()
    returns = np.diff(np.log(close))  # row r of prepared is return r+1 (the first row is consumed)
    train = returns[: prepared.train_end]
    expected = {"standard": (train.mean(), train.std()),
                "minmax": (train.min(), train.max() - train.min()),
                "robust": (np.median(train), np.subtract(*np.percentile(train, [75, 25])))}[scaler]
    assert prepared.scaler.center[0] == pytest.approx(expected[0], rel=1e-12)
    assert prepared.scaler.scale[0] == pytest.approx(expected[1], rel=1e-12)
    volume = series.values["Volume"].to_numpy()[1:]
    assert prepared.scaler.center[2] == pytest.approx(
        {"standard": volume[: prepared.train_end].mean(), "minmax": volume[: prepared.train_end].min(),
         "robust": np.median(volume[: prepared.train_end])}[scaler], rel=1e-12)
    # Changing validation and test rows must not move the statistics, nor any scaled training row.
    later = series.values.copy()
    later.iloc[prepared.train_end + 1 :] *= np.linspace(3.0, 0.2, len(later) - prepared.train_end - 1)[:, None]
    changed = prepare(Series(series.dates, later, series.path, series.sha256), data)
    np.testing.assert_array_equal(changed.scaler.center, prepared.scaler.center)
    np.testing.assert_array_equal(changed.scaler.scale, prepared.scaler.scale)
    np.testing.assert_array_equal(changed.scaled[: prepared.train_end], prepared.scaled[: prepared.train_end])
    assert not np.allclose(changed.scaled[prepared.train_end + 1 :], prepared.scaled[prepared.train_end + 1 :])


def test_windows_align_exactly_with_the_rows():
    _, _, prepared = msft()
    for split in ("train", "validation", "test"):
        origins = prepared.origins(split)
        x, y = prepared.windows(origins)
        for i in (0, len(origins) // 2, len(origins) - 1):
            t = origins[i]
            np.testing.assert_array_equal(x[i].numpy(), prepared.scaled[t - 19 : t + 1])
            np.testing.assert_array_equal(y[i].numpy(), prepared.scaled[t + 1 : t + 5, 0])


def test_no_target_lies_in_a_later_split_and_splits_do_not_overlap():
    _, _, prepared = msft()
    ends = {"train": prepared.train_end, "validation": prepared.validation_end, "test": len(prepared.dates)}
    seen = set()
    for split, end in ends.items():
        origins = prepared.origins(split)
        assert len(origins) > 0
        assert (origins + prepared.horizon).max() < end, split  # the last target of every window
        assert (origins + 1).min() >= {"train": 0, "validation": prepared.train_end,
                                       "test": prepared.validation_end}[split], split  # and the first
        assert not seen.intersection(origins)
        seen.update(origins.tolist())
    train = prepared.origins("train")
    assert train.max() + prepared.horizon == prepared.train_end - 1  # nothing wasted, nothing leaked


def test_windows_are_views_not_copies():
    _, _, prepared = msft()
    x, y = prepared.windows(prepared.origins("train"))
    assert x.untyped_storage().nbytes() == prepared.scaled.nbytes  # one buffer for all windows


def test_date_splits_start_on_the_given_dates():
    import datetime as dt

    _, _, prepared = msft(split={"validation": dt.date(2010, 1, 4), "test": dt.date(2014, 1, 2)})
    assert str(prepared.dates[prepared.train_end].date()) == "2010-01-04"
    assert str(prepared.dates[prepared.validation_end].date()) == "2014-01-02"


@pytest.mark.parametrize("kind", ["none", "log", "log_return", "pct_change", "diff"])
def test_transforms_invert_to_the_original_values(kind):
    rng = np.random.default_rng(0)
    raw = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 50)))
    import pandas as pd

    transformed = apply_transform(raw, kind, column="x", dates=pd.date_range("2020", periods=50))
    origin, horizon = 30, 5
    future = transformed[origin + 1 : origin + 1 + horizon][None]
    back = invert_target((future - 0.1) / 2.0, np.array([raw[origin]]), kind=kind, center=0.1, scale=2.0)
    np.testing.assert_allclose(back[0], raw[origin + 1 : origin + 1 + horizon], rtol=1e-12)


def test_log_transforms_refuse_zero_or_negative_values():
    import pandas as pd

    with pytest.raises(DataError, match="transform log_return needs positive values, found zero or negative on 2020-01-02"):
        apply_transform(np.array([1.0, 0.0, 2.0]), "log_return", column="x", dates=pd.date_range("2020", periods=3))


def test_constant_columns_are_refused():
    with pytest.raises(DataError, match="'OpenInt'.* constant over the training rows"):
        data = DataConfig(path=DATA / "msft_daily_ohlcv.csv", target="Close", features=("OpenInt",), lookback=10)
        series = load_series(data.path, date_column="Date", columns=["Close", "OpenInt"])
        prepare(series, data)


def test_too_short_for_lookback_and_splits():
    data = DataConfig(path=DATA / "us_macro_quarterly.csv", date_column="date", target="realgdp", lookback=150)
    series = load_series(data.path, date_column="date", columns=["realgdp"])
    with pytest.raises(DataError, match="too few rows for lookback 150 \\+ horizon 1 and the splits"):
        prepare(series, data)
