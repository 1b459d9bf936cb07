"""Feature histories from a dataset: gaps filled, static attributes and graphs from the dataset
or the city."""

from __future__ import annotations

import numpy as np
import pandas as pd
from road_features_harness import BUCKET_S, TZ

from flowcast.formats.dataset import make_series_dataset
from flowcast.ingest.simulator import generate_city
from flowcast.kernels import quality as kq
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.static_attributes import static_table


def test_from_dataset_fills_gaps_and_takes_static_and_graph() -> None:
    times = pd.date_range("2025-09-29 00:00", periods=6, freq="5min", tz=TZ).delete([2, 3])
    speed = np.array([[50, np.nan, 40, 41], [60, 61, 62, np.nan]], np.float32)
    flow = np.array([[5, np.nan, 4, 4], [6, 6, 6, 6]], np.float32)
    ds = make_series_dataset(
        "sensor", ["A", "B"], times, {"speed": speed, "flow": flow},
        {"speed": "km/h", "flow": "vehicles"}, interval_s=BUCKET_S, timezone=TZ,
        coords={"road_class": np.array(["arterial", "nonsense"]), "lanes": np.array([3, 2])},
        graph=(np.array([0, 1, 2]), np.array([1, 0])))
    h = FeatureHistory.from_dataset(ds)
    assert h.n_buckets == 6 and h.contiguous and h.timezone == TZ
    np.testing.assert_array_equal(h.values["speed"][0], [50, np.nan, np.nan, np.nan, 40, 41])
    np.testing.assert_array_equal(h.flags[0], [0, kq.NO_DATA, kq.NO_DATA, kq.NO_DATA, 0, 0])
    np.testing.assert_array_equal(h.flags[1], [0, 0, kq.NO_DATA, kq.NO_DATA, 0, 0])
    assert not h.imputed.any()
    np.testing.assert_array_equal(h.static[:, 0], [1, np.nan])  # arterial; unknown class
    np.testing.assert_array_equal(h.static[:, 1], [3, 2])
    assert np.isnan(h.static[:, 2:]).all()
    np.testing.assert_array_equal(h.graph.indices, [1, 0])
    x, _, _ = training_matrix(h, FeatureSpec(), [1])
    assert x.shape == (0, 36)  # min_history 12 > 6 buckets: no complete row
    short = FeatureSpec(lags=(1,), windows=(2,), neighbour_lags=(1,), imputed_window=2)
    x, _, anchors = training_matrix(h, short, [1])
    assert x.shape == (10, short.n_features) and anchors.column.min() == 1
    lag1 = short.names.index("speed_lag_1")
    np.testing.assert_array_equal(x[:, lag1], h.values["speed"][anchors.sensor, anchors.column])


def test_from_dataset_takes_static_from_the_city_when_the_dataset_lacks_it() -> None:
    city = generate_city(12, 0, seed=2)
    times = pd.date_range("2025-09-29", periods=4, freq="5min", tz=TZ)
    ids = city.sensor_ids[[3, 1]]
    ds = make_series_dataset("sensor", ids, times, {"speed": np.ones((2, 4), np.float32)},
                             {"speed": "km/h"}, interval_s=BUCKET_S, timezone=TZ)
    h = FeatureHistory.from_dataset(ds, city)
    np.testing.assert_array_equal(h.static, static_table(city, np.array([3, 1])))
    full = city.sensor_neighbours
    linked = 1 in full.neighbours(3)
    assert (h.graph.neighbours(0).tolist() == [1]) == linked
    assert h.directed
    assert (h.downstream.neighbours(0).tolist() == [1]) == (1 in city.sensor_downstream
                                                              .neighbours(3))
    assert (h.upstream.neighbours(1).tolist() == [0]) == (3 in city.sensor_upstream
                                                          .neighbours(1))
    assert not FeatureHistory.from_dataset(ds).directed
