"""CSV import: Alpha Vantage's layout, generic headers with mapping, and what each bad file gets.

| file                                   | result                                        |
| Alpha Vantage daily / adjusted CSV     | landed; symbol from --symbol or the file name |
| generic headers (Date, Adj Close, ...) | landed through the synonym table              |
| a header we do not know                | SchemaError naming it and how to map/ignore it |
| a row with too many fields             | SchemaError "malformed CSV" with the line     |
| a text price                           | InvalidValueError naming symbol, date, value  |
| an empty file / header only            | EmptyDataError                                |
| binary garbage                         | SchemaError "not a text CSV"                  |
| high = 1e309 (overflow), inf, NaN      | InvalidValueError "non-finite"                |
| a bar dated 1800-01-02                 | InvalidValueError naming the supported span   |
| 02-01-2018 beside 13-01-2018           | parsed day-first, the same for every row      |
| only 02-01-2018, 03-01-2018            | InvalidValueError "ambiguous" + --date-format |
| 2018-01-02 beside 03/01/2018           | InvalidValueError "more than one format"      |
| a file name that is not a ticker       | SchemaError naming it and --symbol            |
| no volume column / blank volume        | landed with volume null                       |
Rejected files leave the warehouse unchanged.
"""

from pathlib import Path

import duckdb
import pytest

from featurecast.marketdata.errors import EmptyDataError, InvalidValueError, SchemaError
from featurecast.marketdata.service import MarketDataService
from tests.python.conftest import make_settings, warehouse_state

AV_DAILY = """timestamp,open,high,low,close,volume
2024-06-07,168.1800,171.3050,168.0600,170.0100,3475495
2024-06-06,167.3800,168.4400,166.8000,168.2000,2207263
2024-06-05,166.4100,167.7900,165.7800,167.3800,3049377
"""
AV_ADJUSTED = """timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient
2024-06-07,168.18,171.305,168.06,170.01,170.01,3475495,0.0000,1.0
2024-06-06,167.38,168.44,166.8,168.2,166.53,2207263,1.6700,1.0
"""
GENERIC = """Date,Open,High,Low,Close,Adj Close,Volume
2024-06-05,10,11,9.5,10.5,10.4,100
2024-06-06,10.5,11.2,10.1,11.0,10.9,120
"""


@pytest.fixture()
def service(tmp_path):
    return MarketDataService(make_settings(tmp_path))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def rows(service) -> list[tuple]:
    con = duckdb.connect(str(service.settings.warehouse_path), read_only=True)
    try:
        return con.execute(
            "select symbol, date::varchar, close, adjusted_close, volume, source "
            "from raw.daily_ohlcv order by symbol, date"
        ).fetchall()
    finally:
        con.close()


def test_alpha_vantage_csv_takes_the_symbol_from_the_file_name(service, tmp_path) -> None:
    report = service.ingest_csv([write(tmp_path, "ibm.csv", AV_DAILY)])
    assert report.symbols == ["IBM"] and report.rows_inserted == 3
    assert rows(service)[0] == ("IBM", "2024-06-05", 167.38, None, 3049377, "csv")


def test_alpha_vantage_adjusted_csv_keeps_adjustments(service, tmp_path) -> None:
    service.ingest_csv([write(tmp_path, "x.csv", AV_ADJUSTED)], symbol="ibm")
    assert rows(service)[0][:4] == ("IBM", "2024-06-06", 168.2, 166.53)


def test_generic_headers_map_through_synonyms(service, tmp_path) -> None:
    service.ingest_csv([write(tmp_path, "acme.csv", GENERIC)])
    assert rows(service)[1] == ("ACME", "2024-06-06", 11.0, 10.9, 120, "csv")


def test_unknown_header_is_an_error_until_mapped_or_ignored(service, tmp_path) -> None:
    text = GENERIC.replace("Volume", "Umsatz").replace("Date,", "Datum,").replace("Close,Adj", "Close,Adj")
    text = (
        text.replace("Adj Close,Umsatz", "Adj Close,Umsatz,Notes")
        .replace("10.4,100", "10.4,100,x")
        .replace("10.9,120", "10.9,120,y")
    )
    path = write(tmp_path, "acme.csv", text)
    with pytest.raises(SchemaError, match=r"unknown column\(s\) 'Datum', 'Umsatz', 'Notes'.*--map"):
        service.ingest_csv([path])
    assert not service.settings.warehouse_path.exists()
    report = service.ingest_csv([path], mapping={"Datum": "date", "Umsatz": "volume"}, ignore=["Notes"])
    assert report.rows_inserted == 2


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("ragged.csv", AV_DAILY + "2024-06-04,1,2,3,4,5,6,7\n", SchemaError, "malformed CSV"),
        ("text.csv", AV_DAILY.replace("170.0100", "n/a"), InvalidValueError, "IBM"),
        ("empty.csv", "", EmptyDataError, "empty"),
        ("header.csv", "timestamp,open,high,low,close,volume\n", EmptyDataError, "no rows"),
        ("binary.csv", b"\xff\xfe\x00\x81garbage", SchemaError, "not a text CSV"),
        ("overflow.csv", AV_DAILY.replace("171.3050", "1e309"), InvalidValueError, "non-finite.*'high'.*IBM"),
        ("inf.csv", AV_DAILY.replace("168.0600", "inf"), InvalidValueError, "non-finite.*'low'"),
        ("old.csv", AV_DAILY.replace("2024-06-05", "1800-01-02"), InvalidValueError, "1885-01-01 to 2035-12-31"),
        ("ambiguous.csv", GENERIC.replace("2024-06-05", "02-01-2018").replace("2024-06-06", "03-01-2018"),
         InvalidValueError, "ambiguous dates.*--date-format"),
        ("mixed.csv", GENERIC.replace("2024-06-06", "06/06/2024"), InvalidValueError, "more than one format.*06/06"),
    ],
)
def test_bad_files_are_rejected_and_nothing_lands(service, tmp_path, name, content, error, message) -> None:
    service.ingest_csv([write(tmp_path, "good.csv", AV_DAILY)], symbol="IBM")
    before = warehouse_state(service.settings.warehouse_path)
    with pytest.raises(error, match=message):
        service.ingest_csv([write(tmp_path, name, content)], symbol="IBM")
    assert warehouse_state(service.settings.warehouse_path) == before


def test_several_files_land_all_or_nothing(service, tmp_path) -> None:
    good = write(tmp_path, "aaa.csv", AV_DAILY)
    bad = write(tmp_path, "bbb.csv", AV_DAILY.replace("3475495", "lots"))
    with pytest.raises(InvalidValueError):
        service.ingest_csv([good, bad])
    assert not service.settings.warehouse_path.exists()


def test_one_date_order_per_file_found_from_all_rows(service, tmp_path) -> None:
    text = GENERIC.replace("2024-06-05", "02-01-2018").replace("2024-06-06", "13-01-2018")
    service.ingest_csv([write(tmp_path, "acme.csv", text)])
    assert [r[1] for r in rows(service)] == ["2018-01-02", "2018-01-13"]


def test_an_explicit_date_format_settles_an_ambiguous_file(service, tmp_path) -> None:
    text = GENERIC.replace("2024-06-05", "02-01-2018").replace("2024-06-06", "03-01-2018")
    service.ingest_csv([write(tmp_path, "acme.csv", text)], date_format="%m-%d-%Y")
    assert [r[1] for r in rows(service)] == ["2018-02-01", "2018-03-01"]
    with pytest.raises(InvalidValueError, match="not in the format"):
        service.ingest_csv([write(tmp_path, "acme.csv", GENERIC)], date_format="%d.%m.%Y")


def test_a_file_name_that_is_no_ticker_says_where_the_symbol_came_from(service, tmp_path) -> None:
    with pytest.raises(SchemaError, match=r"yahoo_spx.csv.*'YAHOO_SPX'.*--symbol") as caught:
        service.ingest_csv([write(tmp_path, "yahoo_spx.csv", GENERIC)])
    assert str(caught.value).count("YAHOO_SPX") == 1
    assert service.ingest_csv([write(tmp_path, "yahoo_spx.csv", GENERIC)], symbol="^GSPC").symbols == ["^GSPC"]


def test_volume_is_optional_and_gzip_and_an_unnamed_index_column_are_read(service, tmp_path) -> None:
    import gzip

    no_volume = "Date,Open,High,Low,Close\n2024-06-05,10,11,9.5,10.5\n"
    blank = ",Open,High,Low,Close,Volume\n2024-06-06,10,11,9.5,10.5,\n"
    path = tmp_path / "blank.csv.gz"
    path.write_bytes(gzip.compress(blank.encode()))
    service.ingest_csv([write(tmp_path, "idx.csv", no_volume), path], symbol="^IDX", has_volume=False)
    assert [(r[1], r[4]) for r in rows(service)] == [("2024-06-05", None), ("2024-06-06", None)]
    con = duckdb.connect(str(service.settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select symbol, has_volume from raw.symbol_properties").fetchall() == [("^IDX", False)]
    finally:
        con.close()
