"""The spot forecast cycle with the spot model: served when ``MODEL_DIR/spots`` holds one (with
its interval in the messages), seasonal naive without one or for a silent spot, and new
versions swapped in without a restart while a broken one keeps the old."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from spot_harness import HORIZONS, filled_state, spot_data, trained

from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import ModelHolder, SpotModelHolder
from flowcast.engine.spot_cycle import SpotCycle
from flowcast.engine.spot_state import SpotState
from flowcast.models.baselines import SeasonalNaive
from flowcast.models.spots.artifact import save_spot_model
from flowcast.publish.spots.forecasts import spot_forecast_messages

ANCHOR_COLUMN = -96 + 43  # 10:45-11:00 local on the last day: the morning surge


@pytest.fixture(scope="module")
def state() -> SpotState:
    return filled_state(spot_data())


def _anchor() -> tuple[int, int]:
    """(bucket id, column in the dataset) of the anchor."""
    series = spot_data().series
    column = series.n_buckets + ANCHOR_COLUMN
    return series.first_bucket + column, column


def _cycle(holder: SpotModelHolder | None) -> SpotCycle:
    city = spot_data().city
    return SpotCycle(city, np.arange(city.n_spots, dtype=np.int32), Settings(), holder)


def _holder(path: Path, metrics: Metrics | None = None,
            horizons: tuple[int, ...] = HORIZONS) -> SpotModelHolder:
    return ModelHolder.spots(path, bucket_s=900, horizons=horizons, metrics=metrics,
                           check_every_s=0.0)


def test_the_model_forecasts_visitors_with_an_interval(tmp_path: Path, state: SpotState) -> None:
    model = trained().model
    save_spot_model(model, tmp_path / "spots")
    bucket, column = _anchor()
    forecasts = _cycle(_holder(tmp_path / "spots")).forecasts(state, bucket)
    series = spot_data().series
    expected = model.predict_at(series, np.array([column]))
    capacity = series.capacity[:, None]
    assert forecasts.model == f"lightgbm:{model.version}"
    np.testing.assert_allclose(forecasts.forecast_visitors, expected.y * capacity, rtol=1e-6)
    assert forecasts.forecast_p10 is not None and forecasts.forecast_p90 is not None
    np.testing.assert_allclose(forecasts.forecast_p90, expected.p90 * capacity, rtol=1e-6)
    assert (forecasts.forecast_p10 <= forecasts.forecast_p90).all()
    message = orjson.loads(spot_forecast_messages(forecasts)[0][1])
    assert message["model"] == f"lightgbm:{model.version}"
    item = message["forecast"][0]
    assert item["horizon_min"] == 60 and item["visitors_p10"] <= item["visitors_p90"]


def test_without_a_model_or_for_a_silent_spot_seasonal_naive_serves(
        tmp_path: Path, state: SpotState) -> None:
    bucket, _ = _anchor()
    seasonal = SeasonalNaive(season=96)
    window = state.window(bucket + 1, 96).visitors
    expected = seasonal.predict(window, np.array(HORIZONS)).y
    for holder in (None, _holder(tmp_path / "spots")):
        forecasts = _cycle(holder).forecasts(state, bucket)
        assert forecasts.model == "baseline:seasonal_naive"
        np.testing.assert_array_equal(forecasts.forecast_visitors, np.maximum(expected, 0))
        assert forecasts.forecast_p10 is None
        assert "visitors_p10" not in orjson.loads(
            spot_forecast_messages(forecasts)[0][1])["forecast"][0]
    save_spot_model(trained().model, tmp_path / "spots")
    silent = filled_state(spot_data())
    silent.history[2][(bucket - 3 + np.arange(4)) % silent.history[2].shape[0], 0] = np.nan
    forecasts = _cycle(_holder(tmp_path / "spots")).forecasts(silent, bucket)
    assert forecasts.model.startswith("lightgbm:")
    np.testing.assert_array_equal(forecasts.forecast_visitors[0], np.maximum(expected[0], 0))
    assert np.isnan(forecasts.forecast_p10[0]).all()  # type: ignore[index]
    assert not np.isnan(forecasts.forecast_p10[1:]).any()  # type: ignore[index]


def test_new_versions_are_picked_up_and_a_broken_one_keeps_the_old(
        tmp_path: Path, state: SpotState) -> None:
    path = tmp_path / "spots"
    metrics = Metrics()
    holder = _holder(path, metrics)
    cycle = _cycle(holder)
    bucket, _ = _anchor()
    assert holder.version is None and cycle.forecasts(state, bucket).model.startswith("baseline")
    model = trained().model
    save_spot_model(model, path)
    assert cycle.forecasts(state, bucket).model == f"lightgbm:{model.version}"
    # a half-copied new version: model.json names it, a booster is missing
    doc = json.loads((path / "model.json").read_text())
    (path / "model.json").write_text(json.dumps({**doc, "version": "broken"}))
    (path / "h032_p90.txt").rename(path / "moved.txt")
    assert cycle.forecasts(state, bucket).model == f"lightgbm:{model.version}"
    assert metrics.counter("flowcast_spot_model_load_failures_total") == 1
    cycle.forecasts(state, bucket)  # the same broken version is not retried every cycle
    assert metrics.counter("flowcast_spot_model_load_failures_total") == 1
    (path / "moved.txt").rename(path / "h032_p90.txt")
    (path / "model.json").write_text(json.dumps({**doc, "version": "v2"}))
    assert cycle.forecasts(state, bucket).model == "lightgbm:v2"
    assert metrics.counter("flowcast_spot_model_loads_total") == 2


def test_a_model_for_other_horizons_is_refused(tmp_path: Path, state: SpotState) -> None:
    save_spot_model(trained().model, tmp_path / "spots")
    metrics = Metrics()
    holder = _holder(tmp_path / "spots", metrics, horizons=(4, 8))
    assert holder.version is None and holder.current() is None
    assert metrics.counter("flowcast_spot_model_load_failures_total") == 1
    bucket, _ = _anchor()
    assert _cycle(holder).forecasts(state, bucket).model == "baseline:seasonal_naive"


def _local_day_columns(date: dt.date) -> slice:
    """Columns of the dataset's buckets of a local date (UTC+8)."""
    series = spot_data().series
    midnight = dt.datetime.combine(date, dt.time(), dt.timezone(dt.timedelta(hours=8)))
    start = int(midnight.timestamp()) // 900 - series.first_bucket
    return slice(start, start + 96)


def test_the_message_carries_the_day_view_of_the_ring(state: SpotState) -> None:
    bucket, column = _anchor()
    series, city = spot_data().series, spot_data().city
    messages = [orjson.loads(v) for _, v in
                spot_forecast_messages(_cycle(None).forecasts(state, bucket))]
    issued = dt.datetime.fromtimestamp((bucket + 1) * 900, dt.timezone(dt.timedelta(hours=8)))
    today = _local_day_columns(issued.date())
    now_of_day = column + 1 - today.start  # buckets of today closed at the issue time
    for k, message in enumerate(messages):
        day = message["day"]
        assert day["date"] == issued.date().isoformat() == "2026-10-12"
        assert day["tomorrow"]["date"] == "2026-10-13"
        assert day["method"] == "same-day-type profile"
        assert day["capacity_daily"] == city.spot_capacity_daily[k]
        so_far = float(series.arrivals[k, today.start:column + 1].sum())
        assert day["arrivals_so_far"] == pytest.approx(so_far, abs=0.5)
        # the reference: the latest earlier day of today's type (a workday) the ring holds
        reference = dt.date.fromisoformat(day["reference_date"])
        assert reference == dt.date(2026, 10, 10)  # a make-up working Saturday
        ref = series.arrivals[k, _local_day_columns(reference)].astype(np.float64)
        by_now = ref[:now_of_day].sum()
        pace = np.clip(so_far / by_now, 0.25, 4.0)
        expected = so_far + (ref.sum() - by_now) * pace
        assert day["expected_arrivals"] == pytest.approx(expected, abs=0.5)
        assert day["saturation"] == pytest.approx(expected / city.spot_capacity_daily[k],
                                                  abs=1e-3)
        tomorrow = day["tomorrow"]
        assert tomorrow["reference_date"] == "2026-10-10"
        assert tomorrow["expected_arrivals"] == pytest.approx(ref.sum(), abs=0.5)
        assert tomorrow["saturation"] == pytest.approx(
            ref.sum() / city.spot_capacity_daily[k], abs=1e-3)
        # the existing fields are untouched
        assert set(message) == {"spot", "issued_at", "model", "capacity_instant", "now",
                                "forecast", "day"}


def test_an_empty_ring_publishes_an_unknown_day_not_zeros() -> None:
    city = spot_data().city
    empty = SpotState.for_city(city, bucket_s=900)
    bucket, _ = _anchor()
    empty.start(bucket - 4)
    message = orjson.loads(spot_forecast_messages(_cycle(None).forecasts(empty, bucket))[0][1])
    day = message["day"]
    assert day["arrivals_so_far"] is None and day["expected_arrivals"] is None
    assert day["saturation"] is None and day["reference_date"] is None
    assert day["tomorrow"]["expected_arrivals"] is None
    assert day["capacity_daily"] == city.spot_capacity_daily[0]
