"""``flowcast import`` through the real CLI entry point: summary, exit codes, --out handling,
the title and the minimal city of ``--city-out``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_harness import one_error_line

from flowcast.cli import main
from flowcast.formats.city_read import load_city
from flowcast.formats.dataset import graph_of, load_dataset

CSV = ("date,90217,90218,90219\n"
       "1/1/2015 0:00,8.5,0,20.25\n"
       "1/1/2015 0:15,7.5,12,0\n"
       "1/1/2015 0:30,6.5,11,19\n")
ADJ = "0,1,0\n1,0,1\n0,1,0\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A small SZ-taxi-shaped CSV and its adjacency."""
    csv, adj = tmp_path / "speed.csv", tmp_path / "adj.csv"
    csv.write_text(CSV, encoding="utf-8")
    adj.write_text(ADJ, encoding="utf-8")
    return csv, adj


def test_import_writes_dataset_and_prints_summary(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv, adj = files
    out = tmp_path / "ds"
    assert main(["import", str(csv), "--adjacency", str(adj), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"imported speed.csv (wide layout, 3 rows) -> {out}" in printed
    assert "sensors     3" in printed
    assert "3 x 15min (900 s)" in printed
    assert "2015-01-01 00:00 .. 2015-01-01 00:30 Asia/Shanghai" in printed
    assert "(2014-12-31T16:00Z .. 2014-12-31T16:30Z)" in printed
    assert "missing 0.0%; zeros 22.2% (kept as values)" in printed
    assert "4 directed edges from adj.csv" in printed
    roads = load_dataset(out).roads
    assert roads is not None
    np.testing.assert_array_equal(roads["speed"].values[1], [0, 12, 11])
    graph = graph_of(roads)
    assert graph is not None
    assert graph[0].tolist() == [0, 1, 3, 4] and graph[1].tolist() == [1, 0, 2, 1]


def test_options_reach_the_import(files: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    out = tmp_path / "ds"
    code = main(["import", str(csv), "--out", str(out), "--zero-is-missing", "--units", "mph",
                 "--timezone", "UTC", "--variable", "speed"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "km/h (converted from mph)" in printed and "(stored as missing)" in printed
    roads = load_dataset(out).roads
    assert roads is not None
    assert roads.attrs["timezone"] == "UTC"
    assert roads["time"].values[0] == np.datetime64("2015-01-01T00:00", "ns")
    np.testing.assert_allclose(roads["speed"].values[1], [np.nan, 12 * 1.609344, 11 * 1.609344],
                               rtol=1e-6)


def test_bad_csv_exits_2_with_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(CSV + "1/1/2015 0:45,1,two,3\n", encoding="utf-8")
    out = tmp_path / "ds"
    assert main(["import", str(csv), "--out", str(out)]) == 2
    assert one_error_line(capsys) == (
        "error: bad.csv: line 5, column 3 ('90218'): 'two' is not a number; fix the cell, "
        "or leave it empty for a missing value")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_missing_start_is_a_user_error(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "tgcn.csv"
    csv.write_text("90217,90218\n8.5,0.25\n", encoding="utf-8")
    assert main(["import", str(csv), "--interval", "15min", "--out",
                 str(tmp_path / "ds")]) == 2
    assert "tgcn.csv has no time column; give --start" in one_error_line(capsys)


def test_missing_csv_is_a_user_error(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "none.csv"), "--out", str(tmp_path / "ds")]) == 2
    assert "none.csv does not exist" in one_error_line(capsys)


def test_existing_out_needs_force(files: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    csv, adj = files
    out = tmp_path / "ds"
    assert main(["import", str(csv), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["import", str(csv), "--adjacency", str(adj), "--out", str(out)]) == 2
    assert "already exists; add --force" in one_error_line(capsys)
    roads = load_dataset(out).roads
    assert roads is not None and graph_of(roads) is None  # untouched
    assert main(["import", str(csv), "--adjacency", str(adj), "--out", str(out),
                 "--force"]) == 0
    roads = load_dataset(out).roads
    assert roads is not None and graph_of(roads) is not None


def test_force_never_replaces_a_directory_that_is_not_a_dataset(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["import", str(csv), "--out", str(precious), "--force"]) == 2
    assert "is not a flowcast dataset" in one_error_line(capsys)
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_failed_import_over_existing_dataset_keeps_it(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    out = tmp_path / "ds"
    assert main(["import", str(csv), "--out", str(out)]) == 0
    before = (out / "roads.nc").read_bytes()
    bad_adj = tmp_path / "bad_adj.csv"
    bad_adj.write_text("0,1\n1,0\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(csv), "--adjacency", str(bad_adj), "--out", str(out),
                 "--force"]) == 2
    assert "is 2x2 but the CSV has 3 sensors" in one_error_line(capsys)
    assert (out / "roads.nc").read_bytes() == before


def test_missing_out_is_a_usage_error(files: tuple[Path, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    assert main(["import", str(csv)]) == 2
    assert "--out" in capsys.readouterr().err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--layout", "--time-column", "--sensor-column", "--value-column",
                 "--timezone", "--units", "--zero-is-missing", "--keep-zeros", "--force",
                 "--adjacency", "--start", "--interval", "--variable", "--title",
                 "--city-out", "--road-class", "--free-flow"):
        assert flag in text


# ----- --title and --city-out ---------------------------------------------------------------

def test_city_out_writes_a_city_whose_ids_are_the_csv_sensors(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv, adj = files
    out, city_file = tmp_path / "ds", tmp_path / "cities" / "sz.geojson"
    assert main(["import", str(csv), "--adjacency", str(adj), "--out", str(out),
                 "--title", "SZ-taxi sample", "--city-out", str(city_file)]) == 0
    printed = capsys.readouterr().out
    assert "  title       SZ-taxi sample" in printed
    assert (f"  city        3 segments, one per sensor (branch 3); free flow 8.2..20.1 km/h; "
            f"4 links -> {city_file} and {out / 'city.geojson'}") in printed
    data = load_dataset(out)
    assert data.roads is not None and data.roads.attrs["title"] == "SZ-taxi sample"
    assert data.city_geojson == city_file.read_text(encoding="utf-8")
    city = load_city(city_file)
    assert list(city.sensor_ids) == list(data.roads["sensor"].values) == [
        "90217", "90218", "90219"]
    assert list(city.segment_ids) == list(city.sensor_ids)
    assert city.downstream.to_dense().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    # the 85th percentile of each sensor's speeds above 0
    expected = [np.percentile(v, 85) for v in ([8.5, 7.5, 6.5], [12, 11], [20.25, 19])]
    np.testing.assert_allclose(city.segment_free_flow_kmh, expected, atol=0.05)
    assert city.timezone == "Asia/Shanghai" and city.name == "speed"


def test_city_flags_set_class_and_free_flow(files: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    city_file = tmp_path / "city.geojson"
    assert main(["import", str(csv), "--out", str(tmp_path / "ds"), "--city-out",
                 str(city_file), "--road-class", "arterial", "--free-flow", "55"]) == 0
    assert "(arterial 3); free flow 55 km/h; 0 links" in capsys.readouterr().out
    city = load_city(city_file)
    assert city.segment_free_flow_kmh.tolist() == [55.0] * 3
    assert city.downstream.indices.size == 0  # no --adjacency, no links


@pytest.mark.parametrize(("args", "words"), [
    (["--road-class", "branch"], "add --city-out"),
    (["--free-flow", "40"], "add --city-out"),
    (["--city-out", "{tmp}/c.geojson", "--free-flow", "0"],
     "--free-flow must be auto or a speed in km/h from 5 to 200, got 0"),
    (["--city-out", "{tmp}/c.geojson", "--free-flow", "fast"], "--free-flow must be auto"),
    (["--city-out", "{tmp}"], "is a directory; give a file name"),
    (["--city-out", "{tmp}/taken.geojson"], "already exists; add --force"),
])
def test_city_mistakes_are_one_line_errors_before_reading(
        files: tuple[Path, Path], tmp_path: Path, args: list[str], words: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    csv, _ = files
    (tmp_path / "taken.geojson").write_text("keep", encoding="utf-8")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["import", str(csv), "--out", str(tmp_path / "ds"), *filled]) == 2
    assert words in one_error_line(capsys)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "c.geojson").exists()
    assert (tmp_path / "taken.geojson").read_text(encoding="utf-8") == "keep"


def test_a_sensor_id_a_city_cannot_hold_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "odd.csv"
    csv.write_text("date,Main St 1,S2\n1/1/2015 0:00,30,40\n1/1/2015 0:15,31,41\n",
                   encoding="utf-8")
    assert main(["import", str(csv), "--out", str(tmp_path / "ds"), "--city-out",
                 str(tmp_path / "c.geojson")]) == 2
    assert "'Main St 1'" in one_error_line(capsys)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "c.geojson").exists()
