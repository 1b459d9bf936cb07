"""The offline history a model reads equals the engine's ring after ingesting the same data.

The parity test streams a simulated city with faulty detectors (dropouts, stuck detectors,
failed loops, out-of-range spikes) the way ``flowcast replay`` feeds the engine: one reading per
sensor and bucket, encoded as Arrow frames per region, decoded and validated by the wire codec,
added to a real ``RoadState`` and closed bucket by bucket. The ring's export must equal
:func:`cleaned_history` of the dataset value for value, flags and imputation codes included.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowcast.city import City
from flowcast.engine.road_state import RoadState
from flowcast.formats.dataset import make_series_dataset
from flowcast.ingest.dataset_source import bucket_readings, road_series
from flowcast.ingest.simulator import generate_city, simulate_history
from flowcast.ingest.wire.codec import decode_road_records, encode_road_arrow_by_region
from flowcast.ingest.wire.schema import ARROW_HEADERS, OUT_OF_RANGE, REASONS, ROAD
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.quality_params import QualityParams
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import VARIABLES, FeatureSpec
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.quality_history import READING_RANGES, cleaned_history
from flowcast.models.roads.training import road_history

TZ = dt.timezone(dt.timedelta(hours=8))
BUCKET_S = 300


@pytest.fixture(scope="module")
def faulty() -> tuple[City, object]:
    """40 sensors, two days of 5-min buckets, the simulator's default detector faults."""
    city = generate_city(40, 1, seed=3)
    data = simulate_history(city, dt.datetime(2026, 10, 5, tzinfo=TZ), days=2, seed=3,
                            progress=False)
    return city, data.roads


def _engine_ring(city: City, roads: object) -> tuple[FeatureHistory, int]:
    """The dataset streamed through the wire codec into a RoadState, as the replay does;
    returns the ring's export and how many readings the codec refused as out of range."""
    series = road_series(roads, city)
    interval = float(BUCKET_S)  # one reading per bucket, as replay_settings sets it
    state = RoadState.for_city(city, sensors=series.sensor, bucket_s=BUCKET_S,
                               history_buckets=series.n_buckets + 8,
                               reporting_interval_s=interval,
                               quality=QualityParams(reporting_interval_s=interval))
    refused = 0
    for column in range(series.n_buckets):
        readings = bucket_readings(series, column)
        frames = encode_road_arrow_by_region(readings, city) if len(readings) else []
        decoded = decode_road_records([f for _, f in frames], [ARROW_HEADERS] * len(frames),
                                      city)
        refused += int((decoded.rejects.reason == REASONS.index(OUT_OF_RANGE)).sum())
        bucket = int(series.start_ms[column] // state.bucket_ms)
        state.add(state.localize(decoded.batch))
        state.close(bucket + 1)
    export = FeatureHistory.from_export(state.history.export(), bucket_s=BUCKET_S)
    return export, refused


def _capacity(city: City, raw: FeatureHistory) -> np.ndarray:
    idx = city.sensor_index(np.asarray(raw.sensor_ids))
    return city.segment_capacity_vphpl[city.sensor_segment[idx]].astype(np.float32)


@pytest.mark.parametrize("chunk", [None, 37])
def test_cleaned_history_equals_the_engine_ring(faulty: tuple, chunk: int | None) -> None:
    city, roads = faulty
    ring, refused = _engine_ring(city, roads)
    raw = FeatureHistory.from_dataset(roads, city)
    clean = cleaned_history(raw, capacity_vphpl=_capacity(city, raw), chunk_buckets=chunk)

    np.testing.assert_array_equal(clean.buckets, ring.buckets)
    for v in VARIABLES:
        np.testing.assert_array_equal(clean.values[v], ring.values[v], err_msg=v)
    np.testing.assert_array_equal(clean.flags, ring.flags)
    np.testing.assert_array_equal(clean.imputed, ring.imputed)
    # the data exercised the rules: every fault kind is there, and repaired
    for flag in (kq.NO_DATA, kq.STUCK, kq.ZERO_FLOW_WITH_OCCUPANCY, kq.IMPUTED):
        assert (clean.flags & flag).any(), flag
    assert refused > 0  # spikes the wire contract refuses are no data offline too
    assert not any(np.isnan(x).any() for x in clean.values.values())
    # the measurements stay beside the cleaned values, untouched
    for v in VARIABLES:
        np.testing.assert_array_equal(clean.measured_values(v), raw.values[v])
    # the sensor graphs travel with it: the directed ones for the features only
    assert clean.graph is raw.graph and raw.directed
    assert clean.upstream is raw.upstream and clean.downstream is raw.downstream


def test_reading_ranges_are_the_wire_contracts() -> None:
    assert tuple(READING_RANGES) == ROAD.value_fields
    assert tuple(lo for lo, _ in READING_RANGES.values()) == ROAD.lower
    assert tuple(hi for _, hi in READING_RANGES.values()) == ROAD.upper


def _one_sensor(speed: np.ndarray, flow: np.ndarray | None = None) -> object:
    times = pd.date_range("2025-03-03", periods=len(speed), freq="5min", tz="Asia/Shanghai")
    variables = {"speed": speed[None, :]}
    if flow is not None:
        variables["flow"] = flow[None, :]
    return make_series_dataset("sensor", ["S0"], times, variables,
                               {k: "km/h" for k in variables}, interval_s=BUCKET_S,
                               timezone="Asia/Shanghai")


def test_a_stuck_detector_is_imputed_in_the_features_and_never_a_target() -> None:
    """Two days of a daily speed profile; on day two the detector sticks at 36.31 km/h for an
    hour. The features read what the engine serves there (flagged stuck and imputed); the
    buckets the engine rejected are not targets, and every other target is the measured value
    itself, not the ring's 0.01 km/h step."""
    per_day = 288
    tod = np.arange(2 * per_day) % per_day
    speed = (40 + 15 * np.sin(tod * 2 * np.pi / per_day)).astype(np.float32)
    stuck = slice(per_day + 120, per_day + 132)
    speed[stuck] = 36.31
    history = road_history(_one_sensor(speed))
    raw = road_history(_one_sensor(speed), raw=True)

    flagged = (history.flags[0] & kq.STUCK) > 0
    assert flagged[per_day + 125:per_day + 132].all() and flagged.sum() == 7
    code = (history.imputed[0] >> (2 * kh.SPEED)) & 3
    assert (code[flagged] == kh.IMP_TEMPORAL).all()
    at_flag = np.flatnonzero(flagged)
    # the last good value (the first, unflagged stuck buckets) reaches max_gap = 3 buckets;
    # beyond, the same bucket yesterday
    np.testing.assert_allclose(history.values["speed"][0, at_flag[:3]], 36.31, atol=0.006)
    np.testing.assert_allclose(history.values["speed"][0, at_flag[3:]],
                               speed[at_flag[3:] - per_day], atol=0.006)
    assert (raw.flags[0] == 0).all() and (raw.values["speed"][0, stuck] == np.float32(36.31)).all()

    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=(1,))
    x, y, anchors = training_matrix(history, spec, (1,))
    at = np.flatnonzero(anchors.column == per_day + 130)
    assert x[at, spec.names.index("flag_stuck")] == 1
    assert abs(x[at, spec.names.index("speed_lag_1")] - speed[130]) < 0.006
    inside = anchors.column + 1 < len(speed)
    target = anchors.column[inside] + 1
    np.testing.assert_array_equal(np.isnan(y[inside, 0]), flagged[target])
    ok = ~flagged[target]
    np.testing.assert_array_equal(y[inside, 0][ok], speed[target[ok]])
    assert (history.values["speed"][0] != speed).any()  # the features read the ring's steps


def test_zeros_that_mean_no_data_are_missing_after_the_quality_rules() -> None:
    """With zero_is_missing the engine still receives the zeros (no flag, nothing imputed);
    the model reads them as missing, in the features and the targets."""
    rng = np.random.default_rng(0)
    speed = (30 + rng.normal(0, 2, 600)).astype(np.float32)
    speed[100:103] = 0.0
    speed[200] = np.nan
    history = road_history(_one_sensor(speed), zero_is_missing=True)
    assert np.isnan(history.values["speed"][0, 100:103]).all()
    assert np.isnan(history.measured_values("speed")[0, 100:103]).all()
    assert (history.flags[0, 100:103] & kq.NO_DATA).sum() == 0  # the engine saw a value
    assert history.flags[0, 200] & kq.NO_DATA and not np.isnan(history.values["speed"][0, 200])
    assert np.isnan(history.measured_values("speed")[0, 200])


def test_a_missing_variable_is_imputed_as_the_engine_does() -> None:
    """A speed-only dataset: flow and occupancy have no readings, so the engine holds them
    imputed (the fallback 0) and sets IMPUTED on every bucket; speed stays raw."""
    speed = np.full(300, 50.0, np.float32) + np.arange(300, dtype=np.float32) % 7
    history = road_history(_one_sensor(speed))
    assert (history.values["flow"] == 0).all() and (history.values["occupancy"] == 0).all()
    assert ((history.imputed[0] >> (2 * kh.SPEED)) & 3 == kh.IMP_RAW).all()
    assert (history.flags[0] & kq.IMPUTED).all()
