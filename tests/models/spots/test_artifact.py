"""The spot model directory shares the loader's guards: a damaged booster with a matching
checksum is refused without reaching this process, and a model of another city is refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from formats.booster_damage import absurd_leaf_count, damage
from spot_harness import BUCKET_S, HORIZONS, trained

from flowcast.formats.model_dir import ModelError, booster_file
from flowcast.models.spots.artifact import load_spot_model, read_spot_model_json, save_spot_model

HANGZHOU = SimpleNamespace(name="Hangzhou", segment_ids=["G1"], sensor_ids=["S1"])
CHENGDU = SimpleNamespace(name="Chengdu", segment_ids=["G1"], sensor_ids=["S2"])


def test_a_crashing_p90_booster_is_refused(tmp_path: Path) -> None:
    path = save_spot_model(trained().model, tmp_path / "spots")
    damage(path, booster_file(HORIZONS[-1], "p90"), absurd_leaf_count)
    with pytest.raises(ModelError, match=r"h032_p90\.txt crashed LightGBM in a test process"):
        load_spot_model(path, bucket_s=BUCKET_S, horizons=HORIZONS)


def test_a_spot_model_of_another_city_is_refused(tmp_path: Path) -> None:
    path = save_spot_model(trained().model, tmp_path / "spots", city=HANGZHOU)
    assert read_spot_model_json(path)["city"]["name"] == "Hangzhou"
    load_spot_model(path, bucket_s=BUCKET_S, horizons=HORIZONS, city=HANGZHOU)
    with pytest.raises(ModelError, match=r"spot model .* city 'Hangzhou', this engine runs "
                                         r"city 'Chengdu'"):
        load_spot_model(path, city=CHENGDU)
