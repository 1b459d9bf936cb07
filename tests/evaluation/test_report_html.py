"""The report page's settings table: nested settings flattened to readable rows."""

from __future__ import annotations

from flowcast.evaluation.report_html import flatten_settings, format_setting


def test_nested_settings_become_section_key_rows() -> None:
    meta = {"dataset": "/data/sz", "training": {"stride": 1, "params": {"num_leaves": 63}},
            "folds": [{"index": 0, "trained_to": "2015-01-25T00:00:00+00:00"},
                      {"index": 1, "trained_to": "2015-01-28T00:00:00+00:00"}],
            "horizons_steps": [1, 2, 4], "deadletters": {}, "model_version": None}
    assert flatten_settings(meta) == [
        ("dataset", "/data/sz"), ("training.stride", "1"), ("training.params.num_leaves", "63"),
        ("folds[1].index", "0"), ("folds[1].trained_to", "2015-01-25T00:00:00+00:00"),
        ("folds[2].index", "1"), ("folds[2].trained_to", "2015-01-28T00:00:00+00:00"),
        ("horizons_steps", "1, 2, 4"), ("deadletters", "-"), ("model_version", "-")]


def test_values_are_formatted_for_people() -> None:
    assert [format_setting(v) for v in (True, False, None, 18100, 18100.0, 0.05, 1 / 3,
                                        float("nan"), [], ["a", 2.5], "text")] == [
        "yes", "no", "-", "18,100", "18,100", "0.05", "0.3333", "-", "-", "a, 2.5", "text"]
