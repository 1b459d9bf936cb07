"""The training matrix against a plain numpy reference: rows, anchors, targets and their NaN
rules, missing lookback and covariates, and the directed graphs a spec needs."""

from __future__ import annotations

import numpy as np
import pytest
from road_features_harness import (
    BUCKET_S,
    SPEC_DIRECTED,
    SPEC_SMALL,
    TZ,
    chain,
    random_history,
    reference_row,
)

from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.matrices import build_rows, training_anchors, training_matrix


@pytest.mark.parametrize("spec", [SPEC_SMALL, FeatureSpec(seasonal=(288, 600)), SPEC_DIRECTED])
def test_training_matrix_equals_the_numpy_reference(spec: FeatureSpec) -> None:
    h = random_history()
    x, y, anchors = training_matrix(h, spec, [1, 3], stride=7)
    assert x.shape == (len(anchors), spec.n_features) and y.shape == (len(anchors), 2)
    ref = np.array([reference_row(h, spec, s, t)
                    for s, t in zip(anchors.sensor.tolist(), anchors.column.tolist(),
                                    strict=True)])
    np.testing.assert_allclose(x, ref, rtol=2e-6, atol=2e-6, equal_nan=True)
    exact = [i for i, n in enumerate(spec.names) if "_std_" not in n and "_mean" not in n
             and "tod_" not in n and "_diff_" not in n]
    np.testing.assert_array_equal(x[:, exact], ref[:, exact].astype(np.float32))
    seasonal = spec.names.index("speed_seasonal_288_0")
    assert np.isnan(x[anchors.column < 288, seasonal]).all()  # absent before a day of history
    assert not np.isnan(x[anchors.column >= 288, seasonal]).all()


def test_anchors_targets_and_their_nan_rules() -> None:
    h = random_history(n=3, t=60)
    spec = FeatureSpec(lags=(1, 2), windows=(4,), seasonal=(), neighbour_lags=(1,),
                       imputed_window=0, flags=())
    _, y, anchors = training_matrix(h, spec, [1, 5])
    assert anchors.column[0] == spec.min_history - 1 == 3  # the first column with full lookback
    assert np.all(np.diff(anchors.column) >= 0)  # time-major
    np.testing.assert_array_equal(anchors.sensor[:3], [0, 1, 2])
    np.testing.assert_array_equal(anchors.bucket, h.buckets[anchors.column])
    speed, code = h.values["speed"], (h.imputed >> 4) & 3
    for r in range(len(anchors)):
        s, t = int(anchors.sensor[r]), int(anchors.column[r])
        for j, hz in enumerate((1, 5)):
            c = t + hz
            truth = speed[s, c] if c < 60 and code[s, c] == 0 else np.nan
            np.testing.assert_array_equal(y[r, j], truth)
    assert np.isnan(y[anchors.column == 59]).all()  # the last column has no future
    first = training_anchors(h, spec, start=0, stop=10)
    assert first.column.min() == 3 and first.column.max() == 9
    sub = training_anchors(h, spec, sensors=np.array([2]), stride=10)
    assert set(sub.sensor.tolist()) == {2} and np.all(np.diff(sub.column) == 10)


def test_anchor_at_the_array_start_reads_missing_lookback() -> None:
    h = random_history(n=4, t=30)
    row = build_rows(h, SPEC_SMALL, np.array([0], np.int32), np.array([0], np.int32))[0]
    names = SPEC_SMALL.names
    np.testing.assert_array_equal(row[names.index("speed_lag_1")], h.values["speed"][0, 0])
    np.testing.assert_allclose(row, reference_row(h, SPEC_SMALL, 0, 0), rtol=2e-6,
                               equal_nan=True)
    assert np.isnan(row[names.index("speed_lag_2")])
    assert np.isnan(row[names.index("flow_lag_2")])
    assert row[names.index("speed_imputed_share_6")] >= 5 / 6


def test_missing_covariates_read_as_nan_and_mismatches_are_refused() -> None:
    h = random_history(n=3, t=50)
    del h.values["flow"], h.values["occupancy"]  # a speed-only dataset, like SZ-taxi
    spec = FeatureSpec.for_bucket(BUCKET_S)
    x, _, _ = training_matrix(h, spec, [1])
    assert np.isnan(x[:, spec.names.index("flow_lag_1")]).all()
    assert np.isnan(x[:, spec.names.index("occupancy_lag_1")]).all()
    assert not np.isnan(x[:, spec.names.index("speed_lag_1")]).all()
    with pytest.raises(ValueError, match="no 'flow' series"):
        training_matrix(h, FeatureSpec(target="flow"), [1])
    with pytest.raises(ValueError, match="900 s"):
        training_matrix(h, FeatureSpec(bucket_s=900), [1])
    with pytest.raises(ValueError, match="horizons"):
        training_matrix(h, FeatureSpec(), [0, 1])


def test_directed_features_need_the_directed_graphs() -> None:
    h = random_history(n=4, t=30)
    bare = FeatureHistory(h.values, h.flags, h.imputed, h.buckets, BUCKET_S, TZ, h.static,
                          h.graph)
    assert h.directed and not bare.directed
    with pytest.raises(ValueError, match="downstream neighbours but the history has no directed"):
        training_matrix(bare, SPEC_DIRECTED, [1])
    with pytest.raises(ValueError, match="upstream graph has 3 rows for 4 sensors"):
        FeatureHistory(h.values, h.flags, h.imputed, h.buckets, BUCKET_S, TZ,
                       upstream=chain(3, 1))
