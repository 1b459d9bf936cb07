"""The road feature spec: JSON round trip (a version 1 spec included), names and their order,
directed neighbour names, lookback, categoricals, and the values it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from road_features_harness import SPEC_DIRECTED, SPEC_SMALL, random_history, reference_row

from flowcast.models.roads.feature_spec import FeatureSpec, categorical_features, feature_names
from flowcast.models.roads.matrices import training_matrix


@pytest.mark.parametrize("spec", [FeatureSpec(), SPEC_SMALL, SPEC_DIRECTED,
                                  FeatureSpec.for_bucket(900, "flow", horizons=(1, 2, 4)),
                                  FeatureSpec.for_bucket(300, horizons=(3,), directed=True)])
def test_spec_json_round_trip(spec: FeatureSpec) -> None:
    text = json.dumps(spec.to_dict())
    back = FeatureSpec.from_dict(json.loads(text))
    assert back == spec
    assert feature_names(back) == feature_names(spec)


def test_a_version_1_spec_still_builds_exactly_its_old_features() -> None:
    old = {"kind": "flowcast.features", "version": 1, "target": "speed", "bucket_s": 300,
           "lags": [1, 2, 3, 4, 5, 6], "windows": [3, 6, 12], "seasonal": [288, 2016],
           "seasonal_ahead": [0], "covariates": [["flow", 1]], "time_features": True,
           "holiday_distance": False, "holiday_cap_days": 30,
           "static": ["road_class", "lanes", "free_flow_kmh", "length_m"],
           "neighbour_lags": [1, 2], "neighbour_diff": True,
           "flags": ["no_data", "few_samples", "stuck", "high_occupancy", "imputed"],
           "imputed_window": 12}
    spec = FeatureSpec.from_dict(old)
    assert spec.neighbour_directions == ("all",) and not spec.directed
    nb = [n for n in spec.names if n.startswith("nb_")]
    assert nb == ["nb_speed_mean_lag_1", "nb_speed_mean_lag_2", "nb_speed_diff_lag_1",
                  "nb_speed_diff_lag_2"]
    assert spec.n_features == 37
    assert spec.to_dict()["version"] == 2
    h = random_history(n=5, t=40)
    x, _, anchors = training_matrix(h, spec, [1])
    ref = np.array([reference_row(h, spec, s, t)
                    for s, t in zip(anchors.sensor.tolist(), anchors.column.tolist(),
                                    strict=True)])
    np.testing.assert_allclose(x, ref, rtol=2e-6, atol=2e-6, equal_nan=True)


def test_directed_names_and_the_default_for_a_city() -> None:
    spec = FeatureSpec.for_bucket(300, horizons=(3, 6), directed=True)
    assert spec.neighbour_directions == ("up", "down") and spec.directed
    nb = [n for n in spec.names if n.startswith("nb_")]
    assert nb == ["nb_speed_up_mean_lag_1", "nb_speed_up_mean_lag_2",
                  "nb_speed_up_diff_lag_1", "nb_speed_up_diff_lag_2",
                  "nb_speed_down_mean_lag_1", "nb_speed_down_mean_lag_2",
                  "nb_speed_down_diff_lag_1", "nb_speed_down_diff_lag_2"]
    undirected = FeatureSpec.for_bucket(300, horizons=(3, 6))
    assert undirected.neighbour_directions == ("all",)
    assert spec.n_features == undirected.n_features + 4
    assert FeatureSpec(neighbour_lags=(), neighbour_directions=("up",)).directed is False
    with pytest.raises(ValueError, match="neighbour_directions"):
        FeatureSpec(neighbour_directions=("sideways",))
    with pytest.raises(ValueError, match="neighbour_directions"):
        FeatureSpec(neighbour_directions=("up", "up"))


def test_spec_refuses_unknown_keys_versions_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown feature spec key 'lagz'"):
        FeatureSpec.from_dict({"lagz": [1]})
    with pytest.raises(ValueError, match="version"):
        FeatureSpec.from_dict({"kind": "flowcast.features", "version": 99})
    with pytest.raises(ValueError, match="target"):
        FeatureSpec(target="visitors")
    with pytest.raises(ValueError, match="future"):
        FeatureSpec(seasonal=(288,), seasonal_ahead=(288,))
    with pytest.raises(ValueError, match="covariate"):
        FeatureSpec(covariates=(("speed", 1),))
    with pytest.raises(ValueError, match="lags"):
        FeatureSpec(lags=(0, 1))


def test_names_order_lookback_and_categoricals() -> None:
    spec = FeatureSpec()
    names = feature_names(spec)
    assert len(names) == len(set(names)) == spec.n_features == 36
    assert names[:2] == ["speed_lag_1", "speed_lag_2"]
    assert names[-1] == "speed_imputed_share_12"
    assert spec.min_history == 12 and spec.lookback == 2017  # a week back, the anchor included
    assert categorical_features(spec) == ["dow", "daytype", "road_class"]
    assert FeatureSpec.for_bucket(300, horizons=(3, 12)).seasonal_ahead == (0, 3, 12)
    assert FeatureSpec.for_bucket(900).windows == (2, 4, 12)
