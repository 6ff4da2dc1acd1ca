from __future__ import annotations

import pytest

from lstmcast.data.reading import load_series
from lstmcast.errors import DataError

from conftest import DATA, write_csv


def load(path, columns=("Close",), **options):
    return load_series(path, date_column=options.pop("date_column", "Date"), columns=list(columns), **options)


def test_shipped_files_load_with_their_real_shapes():
    msft = load(DATA / "msft_daily_ohlcv.csv", ["Close", "Volume"])
    assert len(msft.dates) == 7983 and list(msft.values.columns) == ["Close", "Volume"]
    assert msft.dates.is_monotonic_increasing and msft.values.iloc[-1, 0] == 83.87
    cpi = load(DATA / "us_core_cpi_monthly.csv", ["CPILFESL"], date_column="observation_date")
    assert len(cpi.dates) == 743
    aapl = load(DATA / "stocks_daily_long_ohlcv.csv", ["Adj Close"], series_column="Ticker", series="AAPL")
    assert len(aapl.dates) == 3270 and aapl.dates.is_monotonic_increasing


def test_long_file_without_a_series_names_the_ids(tmp_path):
    with pytest.raises(DataError, match=r"column 'Ticker' holds 5 series \(AAPL, FB, GOOG, IBM, MSFT\)"):
        load(DATA / "stocks_daily_long_ohlcv.csv", series_column="Ticker")
    with pytest.raises(DataError, match="no rows with Ticker = 'APPL'; did you mean 'AAPL'"):
        load(DATA / "stocks_daily_long_ohlcv.csv", series_column="Ticker", series="APPL")


FRED = "observation_date,CPI\n2020-01-01,1.0\n2020-02-01,.\n2020-03-01,3.0\n2020-04-01,4.0\n"


def test_missing_values_error_by_default_naming_lines(tmp_path):
    path = write_csv(tmp_path / "fred.csv", FRED)
    with pytest.raises(DataError, match=r"fred.csv: column 'CPI': missing values on line\(s\) 3 .*data.missing: ffill"):
        load(path, ["CPI"], date_column="observation_date")


def test_missing_value_policies_ffill_and_drop(tmp_path):
    path = write_csv(tmp_path / "fred.csv", FRED)
    filled = load(path, ["CPI"], date_column="observation_date", missing="ffill")
    assert filled.values["CPI"].tolist() == [1.0, 1.0, 3.0, 4.0]
    dropped = load(path, ["CPI"], date_column="observation_date", missing="drop")
    assert dropped.values["CPI"].tolist() == [1.0, 3.0, 4.0] and len(dropped.dates) == 3


@pytest.mark.parametrize("token", ["", "NA", "null", "NaN", "."])
def test_every_missing_token_is_recognised(tmp_path, token):
    path = write_csv(tmp_path / "m.csv", f"Date,Close\n2020-01-01,1\n2020-01-02,{token}\n")
    with pytest.raises(DataError, match=r"missing values on line\(s\) 3"):
        load(path)


def test_non_numeric_and_infinite_cells_are_listed(tmp_path):
    path = write_csv(tmp_path / "n.csv", "Date,Close\n2020-01-01,1\n2020-01-02,abc\n2020-01-03,2\n")
    with pytest.raises(DataError, match=r"column 'Close': not a number \(line 3: 'abc'\)"):
        load(path)
    path = write_csv(tmp_path / "i.csv", "Date,Close\n2020-01-01,inf\n2020-01-02,1\n")
    with pytest.raises(DataError, match=r"infinite values on line\(s\) 2"):
        load(path)


def test_duplicate_dates_are_refused_exact_and_conflicting(tmp_path):
    same = write_csv(tmp_path / "d.csv", "Date,Close\n2020-01-01,1\n2020-01-02,2\n2020-01-02,2\n")
    with pytest.raises(DataError, match=r"duplicate dates \(identical rows\), e.g. 2020-01-02 on lines 3, 4"):
        load(same)
    other = write_csv(tmp_path / "e.csv", "Date,Close\n2020-01-01,1\n2020-01-02,2\n2020-01-02,5\n")
    with pytest.raises(DataError, match="duplicate dates with different values"):
        load(other)


def test_unsorted_dates_are_sorted_with_a_notice(tmp_path):
    path = write_csv(tmp_path / "u.csv", "Date,Close\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n")
    series = load(path)
    assert series.values["Close"].tolist() == [1.0, 2.0, 3.0]
    assert any("sorted" in notice for notice in series.notices)


def test_absent_column_suggests_the_closest(tmp_path):
    with pytest.raises(DataError, match=r"no column 'close'; did you mean 'Close'\?"):
        load(DATA / "msft_daily_ohlcv.csv", ["close"])


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfDate,Close\n2020-01-01,1\n2020-01-02,2\n")
    assert load(path).values["Close"].tolist() == [1.0, 2.0]


def test_semicolons_and_decimal_commas(tmp_path):
    path = write_csv(tmp_path / "eu.csv", "Date;Close\n2020-01-01;1,5\n2020-01-02;2,25\n")
    with pytest.raises(DataError, match='semicolon-separated; set data.sep: ";"'):
        load(path)
    assert load(path, sep=";", decimal=",").values["Close"].tolist() == [1.5, 2.25]


def test_not_utf8_duplicate_columns_and_empty_files(tmp_path):
    latin = tmp_path / "l.csv"
    latin.write_bytes("Date,Close\n2020-01-01,1\n2020-01-02,2 \xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 3 is not UTF-8"):
        load(latin)
    dup = write_csv(tmp_path / "dup.csv", "Date,Close,Close\n2020-01-01,1,2\n")
    with pytest.raises(DataError, match="column name 'Close' appears twice"):
        load(dup)
    empty = write_csv(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match="the file is empty"):
        load(empty)
    header = write_csv(tmp_path / "header.csv", "Date,Close\n")
    with pytest.raises(DataError, match="no data rows"):
        load(header)


def test_mixed_and_impossible_dates(tmp_path):
    mixed = write_csv(tmp_path / "m.csv", "Date,Close\n2020-01-01,1\n01/02/2020,2\n2020-01-03,3\n")
    with pytest.raises(DataError, match=r"1 date\(s\) cannot be read or mix formats \(line 3: '01/02/2020'\)"):
        load(mixed)
    impossible = write_csv(tmp_path / "i.csv", "Date,Close\n2020-01-01,1\n2020-02-31,2\n")
    with pytest.raises(DataError, match="line 3: '2020-02-31'"):
        load(impossible)


def test_mixed_time_zone_offsets_are_refused(tmp_path):
    path = write_csv(tmp_path / "tz.csv", "Date,Close\n2020-01-01T00:00:00+00:00,1\n2020-01-02T00:00:00+05:00,2\n")
    with pytest.raises(DataError, match="different time-zone offsets"):
        load(path)


def test_ragged_rows_are_refused(tmp_path):
    path = write_csv(tmp_path / "r.csv", "Date,Close\n2020-01-01,1\n2020-01-02,2,7\n")
    with pytest.raises(DataError, match="ragged rows"):
        load(path)


def test_us_dates_are_read_when_unambiguous(tmp_path):
    path = write_csv(tmp_path / "us.csv", "Date,Close\n12/30/2020,1\n12/31/2020,2\n")
    assert [str(d.date()) for d in load(path).dates] == ["2020-12-30", "2020-12-31"]


def test_daylight_saving_offsets_of_one_zone_are_read_as_local_dates(tmp_path):
    """New York closes stamped -05:00 in winter and -04:00 in summer are one zone: the local dates are kept."""
    path = write_csv(tmp_path / "ny.csv", "Date,Close\n2024-03-08T16:00:00-05:00,1\n2024-03-11T16:00:00-04:00,2\n"
                                          "2024-03-12T16:00:00-04:00,3\n")
    series = load_series(path, date_column="Date", columns=["Close"])
    assert [str(d.date()) for d in series.dates] == ["2024-03-08", "2024-03-11", "2024-03-12"]
    assert any("daylight saving" in n for n in series.notices)
