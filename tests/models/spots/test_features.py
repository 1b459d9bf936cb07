"""Spot feature rows: no value read after the anchor, and the target day's calendar around
Golden Week and a make-up working day."""

from __future__ import annotations

import numpy as np
from spot_harness import BUCKET_S, HORIZONS, spot_data

from flowcast.models.spots.features import (
    TARGET_FEATURES,
    SpotFeatureSpec,
    SpotSeries,
    feature_matrix,
)

SPEC = SpotFeatureSpec(BUCKET_S, HORIZONS)


def test_features_never_read_after_the_anchor() -> None:
    """Changing every bucket after an anchor changes none of its rows, at any horizon."""
    series = spot_data().series
    anchor = 3000
    changed = SpotSeries(series.visitors.copy(), series.arrivals.copy(), series.first_bucket,
                         series.bucket_s, series.capacity, series.opens_min, series.closes_min,
                         series.utc_offset_min)
    changed.visitors[:, anchor + 1:] = 77_777.0
    changed.arrivals[:, anchor + 1:] = np.nan
    for h in HORIZONS:
        np.testing.assert_array_equal(feature_matrix(changed, np.array([anchor]), SPEC, h),
                                      feature_matrix(series, np.array([anchor]), SPEC, h))


def test_target_day_calendar_sees_golden_week_and_the_makeup_day() -> None:
    """Issued the evening of 30 September, 8 hours ahead lands on National Day (a Golden-Week
    holiday); issued on Friday 9 October 2026, 8 h ahead is Saturday 10 October, a make-up
    working day."""
    series = spot_data().series
    names = SPEC.names
    # bucket column of local 30 Sep 20:45 (ends 21:00) and 9 Oct 20:45
    for day, golden, makeup in ((29, 1.0, 0.0), (38, 0.0, 1.0)):
        column = np.array([day * 96 + 83])
        x = feature_matrix(series, column, SPEC, 32)
        assert (x[:, names.index("target_next_day")] == 1).all()
        assert (x[:, names.index("target_golden_week")] == golden).all()
        assert (x[:, names.index("target_makeup")] == makeup).all()
        assert (x[:, names.index("issue_golden_week")] == 0).all()
    assert len(TARGET_FEATURES) == SPEC.n_features - SPEC.names.index("target_minute")
