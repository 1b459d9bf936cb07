"""A model bound to its city: the binding ignores the order of the ids, a model of another city
is refused naming both, and a model without a city is served with one warning."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowcast.errors import FlowcastUserError
from flowcast.formats import model_city
from flowcast.formats.model_city import check_model_city, city_binding, city_hash


@dataclass
class Town:
    name: str
    segment_ids: list[str]
    sensor_ids: list[str]


HANGZHOU = Town("Hangzhou", ["G1", "G2"], ["S1", "S2", "S3"])
CHENGDU = Town("Chengdu", ["G1", "G2"], ["S1", "S2", "S4"])


def test_the_hash_is_of_the_ids_in_any_order() -> None:
    shuffled = Town("Hangzhou", ["G2", "G1"], ["S3", "S1", "S2"])
    assert city_hash(shuffled) == city_hash(HANGZHOU) != city_hash(CHENGDU)
    # a sensor id moved to the segments is another city
    assert city_hash(Town("x", ["G1", "G2", "S1"], ["S2", "S3"])) != city_hash(HANGZHOU)
    assert city_binding(HANGZHOU) == {"name": "Hangzhou", "ids_sha256": city_hash(HANGZHOU)}


def test_the_same_city_passes() -> None:
    check_model_city(Path("m"), {"city": city_binding(HANGZHOU)}, HANGZHOU, "model")


def test_another_city_is_refused_naming_both() -> None:
    with pytest.raises(FlowcastUserError, match=r"'Chengdu'.*'Hangzhou'"):
        check_model_city(Path("m"), {"city": city_binding(CHENGDU)}, HANGZHOU, "model")


@pytest.mark.parametrize("bound", ["Hangzhou", {"name": "Hangzhou"}])
def test_an_unusable_city_field_is_refused(bound: object) -> None:
    with pytest.raises(FlowcastUserError, match="unusable city field"):
        check_model_city(Path("m"), {"city": bound}, HANGZHOU, "model")


def test_a_model_without_a_city_is_served_with_one_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_city, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="flowcast.model"):
        for _ in range(3):
            check_model_city(Path("old"), {}, HANGZHOU, "model")
    warnings = [r for r in caplog.records if "records no city" in r.getMessage()]
    assert len(warnings) == 1
    assert "Hangzhou" in warnings[0].getMessage()
