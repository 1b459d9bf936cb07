"""``flowcast import`` logic: CSV layouts, times, units, adjacency, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.errors import FlowcastUserError, ImportFileError
from flowcast.formats.dataset import graph_of, load_dataset, save_dataset
from flowcast.ingest.csv.importer import ImportResult, format_summary, read_csv_dataset
from flowcast.ingest.csv.options import ImportOptions

SZ_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "sz-taxi"
SZ_SPEED = SZ_DIR / "ye11qing-subset40" / "sz_speed.csv"
SZ_ADJ = SZ_DIR / "ye11qing-subset40" / "sz_adj.csv"
TGCN_ADJ = SZ_DIR / "lehaifeng-T-GCN" / "sz_adj.csv"


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, **options: object) -> ImportResult:
    """Import ``path`` with ``ImportOptions(**options)``."""
    return read_csv_dataset(path, ImportOptions(**options))  # type: ignore[arg-type]


def import_into(path: Path, out: Path, **options: object) -> ImportResult:
    """Import and save, as the command does."""
    result = read(path, **options)
    save_dataset(result.dataset, out)
    return result


def speed(result: ImportResult) -> np.ndarray:
    """The speed array (sensor x time) of an import."""
    assert result.dataset.roads is not None
    return result.dataset.roads["speed"].values


def utc(*stamps: str) -> np.ndarray:
    """Naive UTC datetime64[ns] values, as the dataset stores them."""
    return pd.DatetimeIndex(stamps).values.astype("datetime64[ns]")


def assert_fails(path: Path, tmp_path: Path, match: str, **options: object) -> None:
    """Importing ``path`` into a fresh --out raises ``match`` and leaves nothing behind."""
    out = tmp_path / "out"
    before = set(tmp_path.iterdir())
    with pytest.raises(FlowcastUserError, match=match):
        import_into(path, out, **options)
    assert not out.exists()
    assert set(tmp_path.iterdir()) == before  # no temporary directory either


# --- wide layout -------------------------------------------------------------------------

def test_wide_with_time_column_fills_gaps_with_nan(tmp_path: Path) -> None:
    csv = write(tmp_path, "w.csv", "time,S1,S2\n"
                                   "2015-01-01 00:00,1.5,2\n"
                                   "2015-01-01 00:05,3,\n"
                                   "2015-01-01 00:15,0,NA\n")
    result = read(csv)
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads["sensor"].values) == ["S1", "S2"]
    assert roads.attrs["interval_s"] == 300
    assert roads.attrs["timezone"] == "Asia/Shanghai"
    assert roads["speed"].attrs["units"] == "km/h"
    np.testing.assert_array_equal(roads["time"].values, utc(
        "2014-12-31 16:00", "2014-12-31 16:05", "2014-12-31 16:10", "2014-12-31 16:15"))
    np.testing.assert_array_equal(speed(result), np.array(
        [[1.5, 3, np.nan, 0], [2, np.nan, np.nan, np.nan]], dtype=np.float32))
    assert result.grid.length == 4 and result.rows == 3
    (stats,) = result.variables
    assert stats.missing == pytest.approx(4 / 8)
    assert stats.zeros == pytest.approx(1 / 4)


@pytest.mark.parametrize("times", [
    ["1/1/2015 0:00", "1/1/2015 0:15", "1/1/2015 0:30"],
    ["2015/1/1 0:00", "2015/1/1 0:15", "2015/1/1 0:30"],
    ["2015-01-01T00:00:00", "2015-01-01T00:15:00", "2015-01-01T00:30:00"],
    ["2014-12-31T16:00:00Z", "2014-12-31T16:15:00Z", "2014-12-31T16:30:00Z"],
    ["2015-01-01T00:00+08:00", "2015-01-01T00:15+08:00", "2015-01-01T00:30+08:00"],
    ["1420041600", "1420042500", "1420043400"],
    ["1420041600000", "1420042500000", "1420043400000"],
])
def test_time_formats_all_land_on_the_same_utc_grid(tmp_path: Path, times: list[str]) -> None:
    body = "".join(f"{t},{i}\n" for i, t in enumerate(times))
    result = read(write(tmp_path, "t.csv", "date,S1\n" + body))
    roads = result.dataset.roads
    assert roads is not None
    np.testing.assert_array_equal(roads["time"].values, utc(
        "2014-12-31 16:00", "2014-12-31 16:15", "2014-12-31 16:30"))
    assert roads.attrs["interval_s"] == 900


def test_timezone_option_reads_naive_times_in_that_zone(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-06-01 12:00,1\n2015-06-01 13:00,2\n")
    roads = read(csv, timezone="Europe/Berlin").dataset.roads
    assert roads is not None
    np.testing.assert_array_equal(roads["time"].values[:1], utc("2015-06-01 10:00"))
    assert roads.attrs["timezone"] == "Europe/Berlin"


def test_time_column_by_name_and_format(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "S1,when,S2\n1,01.02.2015 10:00,2\n3,01.02.2015 10:05,4\n")
    result = read(csv, time_column="when", time_format="%d.%m.%Y %H:%M", timezone="UTC")
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads["sensor"].values) == ["S1", "S2"]
    np.testing.assert_array_equal(roads["time"].values, utc("2015-02-01 10:00",
                                                            "2015-02-01 10:05"))
    np.testing.assert_array_equal(speed(result), [[1, 3], [2, 4]])


def test_rows_out_of_order_are_placed_by_time(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:10,3\n2015-01-01 00:00,1\n"
                                   "2015-01-01 00:05,2\n")
    np.testing.assert_array_equal(speed(read(csv)), [[1, 2, 3]])


def test_wide_without_time_column_uses_start_and_interval(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "90217,90218\n8.5,18.25\n7.0,0\n6.5,1.5\n")
    result = read(csv, start="2015-01-01T00:00", interval="15min")
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads["sensor"].values) == ["90217", "90218"]  # numeric ids over decimals
    np.testing.assert_array_equal(roads["time"].values, utc(
        "2014-12-31 16:00", "2014-12-31 16:15", "2014-12-31 16:30"))
    np.testing.assert_array_equal(speed(result), [[8.5, 7.0, 6.5], [18.25, 0, 1.5]])


def test_wide_without_any_header_numbers_the_sensors(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "1.5,2,3\n4,5,6\n")
    result = read(csv, start="2015-01-01T00:00+00:00", interval="300")
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads["sensor"].values) == ["0", "1", "2"]
    np.testing.assert_array_equal(roads["time"].values, utc("2015-01-01 00:00",
                                                            "2015-01-01 00:05"))
    np.testing.assert_array_equal(speed(result), [[1.5, 4], [2, 5], [3, 6]])


def test_header_flag_overrides_detection(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "10,20\n30,40\n")  # whole numbers: read as data
    options = {"start": "2015-01-01T00:00", "interval": "5min"}
    assert read(csv, **options).grid.length == 2
    result = read(csv, header=True, **options)
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads["sensor"].values) == ["10", "20"]
    np.testing.assert_array_equal(speed(result), [[30], [40]])


@pytest.mark.parametrize(("options", "missing"), [
    ({}, "give --start and --interval"),
    ({"interval": "15min"}, "give --start to place"),
    ({"start": "2015-01-01T00:00"}, "give --interval to place"),
])
def test_no_time_column_needs_start_and_interval(tmp_path: Path, options: dict[str, str],
                                                 missing: str) -> None:
    csv = write(tmp_path, "t.csv", "S1,S2\n1.5,2\n")
    assert_fails(csv, tmp_path, f"t.csv has no time column; {missing}", **options)


def test_start_with_a_time_column_is_refused(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,1\n")
    assert_fails(csv, tmp_path, "has a time column .*drop --start", start="2015-01-01")


def test_given_interval_keeps_sparse_rows_on_its_grid(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:10,2\n")
    result = read(csv, interval="5min")
    assert result.grid.step_s == 300
    np.testing.assert_array_equal(speed(result), [[1, np.nan, 2]])


# --- units and the zero rule --------------------------------------------------------------

def test_mph_is_converted_to_kmh(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,10\n2015-01-01 00:05,0\n")
    result = read(csv, units=("mph",))
    np.testing.assert_allclose(speed(result), [[16.09344, 0]], rtol=1e-6)
    assert result.variables[0].source_unit == "mph"


def test_zero_is_missing_turns_zeros_into_nan(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,10\n2015-01-01 00:05,0\n")
    kept = read(csv)
    dropped = read(csv, zero_is_missing=True)
    np.testing.assert_array_equal(speed(kept), [[10, 0]])
    np.testing.assert_array_equal(speed(dropped), [[10, np.nan]])
    assert dropped.variables[0].zeros == kept.variables[0].zeros == pytest.approx(0.5)
    assert dropped.variables[0].missing == pytest.approx(0.5)


def test_unknown_unit_is_refused(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,10\n2015-01-01 00:05,0\n")
    assert_fails(csv, tmp_path, "--units percent does not fit.*speed: km/h", units=("percent",))


# --- long layout --------------------------------------------------------------------------

LONG = ("sensor,time,speed,flow,occupancy,weather\n"
        "B,2015-01-01T00:00+08:00,50,10,5,sun\n"
        "A,2015-01-01T00:00+08:00,40,12,7.5,sun\n"
        "B,2015-01-01T00:05+08:00,45,,8,rain\n"
        "A,2015-01-01T00:15+08:00,41,9,100,rain\n")


def test_long_layout_imports_every_known_variable(tmp_path: Path) -> None:
    result = read(write(tmp_path, "l.csv", LONG), units=("percent",))
    roads = result.dataset.roads
    assert roads is not None
    assert result.layout == "long"
    assert list(roads["sensor"].values) == ["B", "A"]  # order of first appearance
    assert set(roads.data_vars) == {"speed", "flow", "occupancy"}
    assert roads["flow"].attrs["units"] == "vehicles" and roads["occupancy"].attrs["units"] == "1"
    np.testing.assert_array_equal(roads["time"].values, utc(
        "2014-12-31 16:00", "2014-12-31 16:05", "2014-12-31 16:10", "2014-12-31 16:15"))
    nan = np.nan
    np.testing.assert_array_equal(roads["speed"].values, [[50, 45, nan, nan], [40, nan, nan, 41]])
    np.testing.assert_array_equal(roads["flow"].values, [[10, nan, nan, nan], [12, nan, nan, 9]])
    np.testing.assert_allclose(roads["occupancy"].values,
                               [[0.05, 0.08, nan, nan], [0.075, nan, nan, 1.0]], rtol=1e-6)
    assert result.ignored == ["weather"]


def test_long_layout_occupancy_in_percent_needs_the_unit(tmp_path: Path) -> None:
    assert_fails(write(tmp_path, "l.csv", LONG), tmp_path,
                 "occupancy goes up to 100 read as fraction.*--units percent")


def test_long_layout_value_column_and_variable(tmp_path: Path) -> None:
    csv = write(tmp_path, "l.csv", "station,timestamp,v\nX,1420041600,3\nX,1420041900,4\n")
    result = read(csv, layout="long", sensor_column="station", value_column="v",
                  variable="flow")
    roads = result.dataset.roads
    assert roads is not None
    assert list(roads.data_vars) == ["flow"]
    np.testing.assert_array_equal(roads["flow"].values, [[3, 4]])


def test_long_layout_repeated_sensor_time_names_both_lines(tmp_path: Path) -> None:
    csv = write(tmp_path, "l.csv", "sensor,time,speed\nA,2015-01-01 00:00,1\n"
                                   "B,2015-01-01 00:00,2\nA,2015-01-01 00:00,3\n")
    assert_fails(csv, tmp_path, r"l\.csv: line 4 repeats sensor 'A' at time '2015-01-01 00:00' "
                                r"first seen on line 2")


# --- bad input ----------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    assert_fails(tmp_path / "nope.csv", tmp_path, "nope.csv does not exist")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert_fails(write(tmp_path, "e.csv", text), tmp_path, "e.csv is empty")


def test_header_without_rows(tmp_path: Path) -> None:
    assert_fails(write(tmp_path, "h.csv", "time,S1\n"), tmp_path,
                 "h.csv has a header row but no data rows")


@pytest.mark.parametrize(("text", "line", "fields"), [
    ("time,S1,S2\n2015-01-01 00:00,1,2\n2015-01-01 00:05,3\n", 3, 2),
    ("time,S1,S2\n2015-01-01 00:00,1,2\n\n2015-01-01 00:05,3,4,5\n", 4, 4),  # blank line 3
])
def test_ragged_row_names_its_line(tmp_path: Path, text: str, line: int, fields: int) -> None:
    assert_fails(write(tmp_path, "r.csv", text), tmp_path,
                 rf"r\.csv: line {line} has {fields} fields, expected 3")


def test_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    rows = "".join(f"2015-01-01 00:{m:02d},{m},1\n" for m in range(0, 60, 5))
    csv = write(tmp_path, "n.csv", "time,S1,S2\n" + rows + "2015-01-01 01:00,1,abc\n")
    assert_fails(csv, tmp_path, r"n\.csv: line 14, column 3 \('S2'\): 'abc' is not a number")


def test_non_numeric_cell_without_header(tmp_path: Path) -> None:
    csv = write(tmp_path, "n.csv", "1.5,2\n3.5,x1\n")
    assert_fails(csv, tmp_path, r"line 2, column 2: 'x1' is not a number",
                 start="2015-01-01", interval="5min")


def test_duplicate_times_name_both_lines(tmp_path: Path) -> None:
    csv = write(tmp_path, "d.csv", "time,S1\n1/1/2015 0:00,1\n1/1/2015 0:15,2\n"
                                   "1/1/2015 0:00,3\n")
    assert_fails(csv, tmp_path, r"d\.csv: line 4 repeats time '1/1/2015 0:00' first seen on "
                                r"line 2")


def test_duplicate_sensor_columns(tmp_path: Path) -> None:
    csv = write(tmp_path, "d.csv", "time,S1,S2,S1\n2015-01-01 00:00,1,2,3\n")
    assert_fails(csv, tmp_path, r"line 1: sensor column 'S1' appears twice \(columns 2 and 4\)")


def test_unparseable_time_names_its_line(tmp_path: Path) -> None:
    csv = write(tmp_path, "u.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,2\n"
                                   "soon,3\n")
    assert_fails(csv, tmp_path, r"u\.csv: line 4: cannot read time 'soon'")


def test_empty_time_names_its_line(tmp_path: Path) -> None:
    csv = write(tmp_path, "u.csv", "time,S1\n2015-01-01 00:00,1\n,2\n")
    assert_fails(csv, tmp_path, r"u\.csv: line 3 has no time")


def test_irregular_time_names_its_line(tmp_path: Path) -> None:
    csv = write(tmp_path, "i.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:15,2\n"
                                   "2015-01-01 00:20,3\n2015-01-01 00:30,4\n"
                                   "2015-01-01 00:45,5\n")
    assert_fails(csv, tmp_path, r"i\.csv: line 4: time '2015-01-01 00:20' is off the 15min "
                                r"grid that starts at '2015-01-01 00:00' \(line 2\)")


def test_mixed_offsets_are_refused(tmp_path: Path) -> None:
    csv = write(tmp_path, "m.csv", "time,S1\n2015-01-01T00:00+08:00,1\n2015-01-01T00:05,2\n")
    assert_fails(csv, tmp_path, r"line 3: time '2015-01-01T00:05' has no UTC offset, unlike "
                                r"'2015-01-01T00:00\+08:00' on line 2")


def test_local_time_skipped_by_daylight_saving_is_refused(tmp_path: Path) -> None:
    csv = write(tmp_path, "dst.csv", "time,S1\n2015-03-08 01:30,1\n2015-03-08 02:30,2\n"
                                     "2015-03-08 03:30,3\n")
    assert_fails(csv, tmp_path, r"line 3: local time '2015-03-08 02:30' is skipped or repeated "
                                r"in America/New_York", timezone="America/New_York")


def test_counter_is_not_an_epoch_time(tmp_path: Path) -> None:
    csv = write(tmp_path, "c.csv", "time,S1\n0,1\n1,2\n")
    assert_fails(csv, tmp_path, r"line 2: time '0' is a number but not an epoch time")


def test_typo_year_is_refused_instead_of_a_huge_grid(tmp_path: Path) -> None:
    csv = write(tmp_path, "y.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,2\n"
                                   "2051-01-01 00:10,3\n")
    assert_fails(csv, tmp_path, r"line 4: time '2051-01-01 00:10' comes after a gap")


@pytest.mark.parametrize(("options", "match"), [
    ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
    ({"interval": "soon"}, "--interval 'soon' is not a positive whole number"),
    ({"interval": "0s"}, "--interval '0s' is not a positive"),
    ({"variable": "entries"}, "--variable entries is not a road variable"),
    ({"time_column": "clock"}, "--time-column clock: no such column in t.csv"),
])
def test_bad_options(tmp_path: Path, options: dict[str, str], match: str) -> None:
    csv = write(tmp_path, "t.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,2\n")
    assert_fails(csv, tmp_path, match, **options)


def test_error_leaves_an_existing_dataset_untouched(tmp_path: Path) -> None:
    good = write(tmp_path, "g.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,2\n")
    bad = write(tmp_path, "b.csv", "time,S1\n2015-01-01 00:00,1\n2015-01-01 00:05,oops\n")
    out = tmp_path / "out"
    import_into(good, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ImportFileError, match="line 3"):
        import_into(bad, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --- adjacency ----------------------------------------------------------------------------

WIDE3 = "time,A,B,C\n2015-01-01 00:00,1,2,3\n2015-01-01 00:05,4,5,6\n"


def csr(result: ImportResult) -> tuple[list[int], list[int]]:
    """The imported graph as plain lists."""
    assert result.dataset.roads is not None
    graph = graph_of(result.dataset.roads)
    assert graph is not None
    return graph[0].tolist(), graph[1].tolist()


def test_adjacency_without_header_keeps_direction(tmp_path: Path) -> None:
    adj = write(tmp_path, "adj.csv", "0,1,0\n0,0,0.5\n1,1,0\n")
    result = read(write(tmp_path, "w.csv", WIDE3), adjacency=adj)
    assert csr(result) == ([0, 1, 2, 4], [1, 2, 0, 1])  # A->B, B->C, C->A, C->B
    assert result.edges == 4


def test_adjacency_with_header_is_reordered_to_the_sensors(tmp_path: Path) -> None:
    # the same graph as above, listed in the order C, A, B
    adj = write(tmp_path, "adj.csv", "C,A,B\n0,1,1\n0,0,1\n1,0,0\n")
    assert csr(read(write(tmp_path, "w.csv", WIDE3), adjacency=adj)) == \
        ([0, 1, 2, 4], [1, 2, 0, 1])


def test_adjacency_with_label_column(tmp_path: Path) -> None:
    adj = write(tmp_path, "adj.csv", ",C,A,B\nC,0,1,1\nA,0,0,1\nB,1,0,0\n")
    assert csr(read(write(tmp_path, "w.csv", WIDE3), adjacency=adj)) == \
        ([0, 1, 2, 4], [1, 2, 0, 1])


def test_adjacency_with_numeric_header(tmp_path: Path) -> None:
    csv = write(tmp_path, "w.csv", "time,11,12\n2015-01-01 00:00,1.5,2\n"
                                   "2015-01-01 00:05,4,5\n")
    adj = write(tmp_path, "adj.csv", "12,11\n0,1\n0,0\n")  # 12 -> 11
    assert csr(read(csv, adjacency=adj)) == ([0, 0, 1], [0])


@pytest.mark.parametrize(("matrix", "match"), [
    ("0,1\n1,0\n", "adjacency adj.csv is 2x2 but the CSV has 3 sensors"),
    ("0,1,0\n1,0,1\n", "adjacency adj.csv has 2 rows and 3 columns of numbers; it must be "
                       "square"),
    ("0,1,0\n1,0\n0,0,0\n", r"adj\.csv: line 2 has 2 fields, expected 3"),
    ("0,1,0\n1,0,x\n0,0,0\n", r"adj\.csv: line 2, column 3: 'x' is not a number"),
    ("0,1,0\n1,0,\n0,0,0\n", r"adj\.csv: line 2, column 3 is empty"),
    ("A,B,D\n0,1,0\n1,0,1\n0,0,0\n", r"its header lacks sensor\(s\) 'C' of the CSV and names "
                                    r"'D' instead"),
    ("A,B,A\n0,1,0\n1,0,1\n0,0,0\n", "sensor 'A' appears twice in its header"),
    ("", "adj.csv is empty"),
])
def test_bad_adjacency(tmp_path: Path, matrix: str, match: str) -> None:
    adj = write(tmp_path, "adj.csv", matrix)
    assert_fails(write(tmp_path, "w.csv", WIDE3), tmp_path, match, adjacency=adj)


def test_adjacency_path_missing(tmp_path: Path) -> None:
    assert_fails(write(tmp_path, "w.csv", WIDE3), tmp_path, "adjacency .*nope.csv does not exist",
                 adjacency=tmp_path / "nope.csv")


# --- the real SZ-taxi file ----------------------------------------------------------------

@pytest.fixture(scope="module")
def sz() -> ImportResult:
    """The SZ-taxi 40-road subset with its adjacency, imported once."""
    if not SZ_SPEED.exists():
        pytest.fail(f"{SZ_SPEED} is missing; the shared data folder must sit beside the repo")
    return read(SZ_SPEED, adjacency=SZ_ADJ)


def test_sz_taxi_shape_time_and_interval(sz: ImportResult) -> None:
    roads = sz.dataset.roads
    assert roads is not None
    assert roads["speed"].shape == (40, 2976)
    assert roads.attrs["interval_s"] == 900
    assert roads["time"].values[0] == np.datetime64("2014-12-31T16:00", "ns")
    assert roads["time"].values[-1] == np.datetime64("2015-01-31T15:45", "ns")
    assert roads["sensor"].values[0] == "90217" and roads["sensor"].values[-1] == "94163"
    assert not np.isnan(roads["speed"].values).any()


def test_sz_taxi_values_equal_the_csv(sz: ImportResult) -> None:
    lines = SZ_SPEED.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    roads = sz.dataset.roads
    assert roads is not None
    for line_no, col in [(2, 1), (2, 40), (3, 8), (1500, 17), (2977, 1), (2977, 33), (777, 25)]:
        cells = lines[line_no - 1].split(",")
        sensor = header[col]
        value = roads["speed"].sel(sensor=sensor).values[line_no - 2]
        assert value == np.float32(float(cells[col])), (line_no, sensor)


def test_sz_taxi_zero_share_and_graph(sz: ImportResult) -> None:
    assert sz.variables[0].zeros == pytest.approx(0.061, abs=0.001)
    matrix = np.loadtxt(SZ_ADJ, delimiter=",")
    indptr, indices = csr(sz)
    rebuilt = np.zeros_like(matrix)
    for row in range(40):
        rebuilt[row, indices[indptr[row]:indptr[row + 1]]] = 1
    np.testing.assert_array_equal(rebuilt, matrix != 0)
    assert sz.edges == int((matrix != 0).sum())


def test_sz_taxi_saved_and_loaded_back(sz: ImportResult, tmp_path: Path) -> None:
    save_dataset(sz.dataset, tmp_path / "sz")
    loaded = load_dataset(tmp_path / "sz").roads
    assert loaded is not None and sz.dataset.roads is not None
    np.testing.assert_array_equal(loaded["speed"].values, sz.dataset.roads["speed"].values)
    summary = format_summary(sz, tmp_path / "sz")
    assert "sensors     40" in summary
    assert "2976 x 15min (900 s)" in summary
    assert "2015-01-01 00:00 .. 2015-01-31 23:45 Asia/Shanghai" in summary
    assert "zeros 6.1% (kept as values)" in summary
    assert f"{sz.edges} directed edges from sz_adj.csv" in summary


def test_sz_taxi_with_the_full_156_road_adjacency_is_a_mismatch(tmp_path: Path) -> None:
    assert_fails(SZ_SPEED, tmp_path, "adjacency sz_adj.csv is 156x156 but the CSV has 40 "
                                     "sensors", adjacency=TGCN_ADJ)


def test_a_title_is_kept_and_shown(tmp_path: Path) -> None:
    path = write(tmp_path, "speed.csv", "date,S1\n1/1/2015 0:00,30\n1/1/2015 0:15,31\n")
    result = import_into(path, tmp_path / "out", title="Ring road, January 2015")
    assert result.dataset.roads is not None
    assert result.dataset.roads.attrs["title"] == "Ring road, January 2015"
    assert "  title       Ring road, January 2015" in format_summary(result, tmp_path / "out")
    loaded = load_dataset(tmp_path / "out").roads
    assert loaded is not None and loaded.attrs["title"] == "Ring road, January 2015"
    untitled = read(path)
    assert untitled.dataset.roads is not None and "title" not in untitled.dataset.roads.attrs
