"""``flowcast import``: turn a CSV of real detector data into a flowcast dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import click

from flowcast.city import ROAD_CLASSES
from flowcast.cli.flags import Number
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_write import city_json, save_city
from flowcast.formats.dataset import CITY_FILE, check_out_path, save_dataset
from flowcast.formats.dataset_city import (
    FREE_FLOW_PERCENTILE,
    FREE_FLOW_RANGE_KMH,
    describe_city,
    minimal_city,
)
from flowcast.ingest.csv.importer import format_summary, read_csv_dataset
from flowcast.ingest.csv.options import UNIT_FACTORS, ImportOptions, Layout


@click.command("import")
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Dataset directory to write.")
@click.option("--force", is_flag=True, help="Replace --out if it already holds a dataset.")
@click.option("--layout", type=click.Choice(["auto", "wide", "long"]), default="auto",
              show_default=True,
              help="wide: a column per sensor; long: rows of sensor, time, values.")
@click.option("--header/--no-header", default=None,
              help="Whether the first row names the columns (default: detect).")
@click.option("--time-column", metavar="NAME",
              help="The time column (default: time/date/datetime/timestamp, or a first column "
                   "of times).")
@click.option("--time-format", metavar="FMT",
              help="strftime format of the times, e.g. '%d/%m/%Y %H:%M' (default: detect "
                   "M/D/YYYY H:MM, ISO 8601, epoch s/ms).")
@click.option("--sensor-column", metavar="NAME", help="Long layout: the sensor id column.")
@click.option("--value-column", metavar="NAME",
              help="Long layout: the one value column to read (as --variable).")
@click.option("--variable", type=click.Choice(list(UNIT_FACTORS)),
              help="What the values are (default: speed for a wide CSV; every known column "
                   "of a long one).")
@click.option("--units", "units", multiple=True, metavar="[VARIABLE=]UNIT",
              help="Unit of the CSV's values when not the default (km/h, vehicles, fraction): "
                   "mph or m/s for speed, percent for occupancy. Repeatable.")
@click.option("--start", metavar="ISO",
              help="Time of the first row, for a CSV without a time column.")
@click.option("--interval", metavar="STEP",
              help="Bucket length, e.g. 5min or 15min (needed without a time column; "
                   "inferred from it otherwise).")
@click.option("--timezone", default="Asia/Shanghai", show_default=True, metavar="ZONE",
              help="How times without a UTC offset are read; the dataset stores UTC.")
@click.option("--zero-is-missing/--keep-zeros", default=False, show_default=True,
              help="Store exact zeros as missing (SZ-taxi's 0 means no taxi, no data).")
@click.option("--adjacency", type=click.Path(path_type=Path, dir_okay=False),
              help="N x N matrix CSV (nonzero = edge i->j), no header or a header of ids.")
@click.option("--title", metavar="TEXT",
              help="What the data is, for people: the title of its backtest and replay "
                   "reports (default: the CSV's name).")
@click.option("--city-out", type=click.Path(path_type=Path), metavar="FILE",
              help="Also make a minimal city for the data (one segment per sensor, links from "
                   "--adjacency): written to FILE and kept as DATASET/city.geojson, which "
                   "'flowcast replay' and 'flowcast run --city' need.")
@click.option("--road-class", type=click.Choice(["auto", *ROAD_CLASSES]), default="auto",
              show_default=True,
              help="With --city-out: every segment's road class; auto picks it from the "
                   "free-flow speed.")
@click.option("--free-flow", metavar="KMH|auto", default="auto", show_default=True,
              help="With --city-out: every segment's free-flow speed in km/h; auto takes the "
                   f"{FREE_FLOW_PERCENTILE:g}th percentile of each sensor's speeds above 0.")
def import_csv(csv_path: Path, out: Path, force: bool, layout: str, header: bool | None,
               time_column: str | None, time_format: str | None, sensor_column: str | None,
               value_column: str | None, variable: str | None, units: tuple[str, ...],
               start: str | None, interval: str | None, timezone: str, zero_is_missing: bool,
               adjacency: Path | None, title: str | None, city_out: Path | None,
               road_class: str, free_flow: str) -> None:
    """Import a CSV of real detector data into a flowcast dataset.

    \b
    Examples:
      flowcast import sz_speed.csv --adjacency sz_adj.csv --zero-is-missing \\
          --city-out data/sz-city.geojson --out data/sz
      flowcast import speeds.csv --start 2015-01-01T00:00 --interval 15min --out data/x
      flowcast import readings.csv --layout long --units percent --out data/y
    """
    check_out_path(out, force)
    city_options = _city_options(city_out, force, road_class, free_flow)
    options = ImportOptions(
        layout=cast(Layout, layout), header=header, time_column=time_column,
        time_format=time_format, sensor_column=sensor_column, value_column=value_column,
        variable=variable, units=units, start=start, interval=interval, timezone=timezone,
        zero_is_missing=zero_is_missing, adjacency=adjacency,
        title=title.strip() if title and title.strip() else None, progress=True)
    began = time.perf_counter()
    result = read_csv_dataset(csv_path, options)
    city = None
    if city_out is not None:
        roads = result.dataset.roads
        assert roads is not None  # an import always makes road series
        city = minimal_city(roads, name=csv_path.stem, **city_options)
        result.dataset.city_geojson = city_json(city)
    save_dataset(result.dataset, out, overwrite=force)
    if city is not None and city_out is not None:
        save_city(city, city_out)
    click.echo(format_summary(result, out))
    if city is not None:
        click.echo(f"  city        {describe_city(city)} -> {city_out} and {out / CITY_FILE}")
    click.echo(f"  took        {time.perf_counter() - began:.1f} s")


def _city_options(city_out: Path | None, force: bool, road_class: str,
                  free_flow: str) -> dict[str, Any]:
    """Check the city flags before the CSV is read; the keywords of :func:`minimal_city`."""
    chosen = road_class != "auto" or free_flow.strip().lower() != "auto"
    if city_out is None:
        if chosen:
            raise FlowcastUserError("--road-class and --free-flow describe the city that "
                                    "--city-out FILE makes; add --city-out")
        return {}
    if city_out.is_dir():
        raise FlowcastUserError(f"--city-out {city_out} is a directory; give a file name "
                                "such as city.geojson")
    if city_out.exists() and not force:
        raise FlowcastUserError(f"{city_out} already exists; add --force to replace it, or "
                                "choose another --city-out")
    speed = None
    if free_flow.strip().lower() != "auto":
        low, high = FREE_FLOW_RANGE_KMH
        speed = Number(low, high, expects=f"auto or a speed in km/h from {low:g} to "
                                          f"{high:g}").check("--free-flow", free_flow)
    return {"road_class": None if road_class == "auto" else road_class,
            "free_flow_kmh": speed}

