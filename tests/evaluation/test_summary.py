"""Every table of an evaluation at once, and metrics.json as plain JSON."""

from __future__ import annotations

import json

import pytest
from predictions_harness import tiny

from flowcast.evaluation.summary import evaluate, metrics_json


def test_metrics_json_is_plain_json_with_nulls() -> None:
    ev = evaluate(tiny(), timezone="Asia/Shanghai", interval_s=3600)
    doc = metrics_json(ev, {"dataset": "tiny", "data_hash": "abc"})
    text = json.dumps(doc, allow_nan=False)  # raises if a NaN slipped through
    back = json.loads(text)
    assert back["meta"] == {"dataset": "tiny", "data_hash": "abc"}
    assert back["model"] == "lightgbm"
    assert back["horizons_steps"] == [1, 2] and back["horizons_s"] == [3600, 7200]
    assert back["beats_all_baselines_at_every_horizon"] is True
    rows = {(r["model"], r["horizon_steps"]): r for r in back["per_horizon"]}
    assert rows[("last_value", 1)]["coverage"] is None
    assert rows[("lightgbm", 1)]["mae"] == pytest.approx(1.0)
    assert {(r["model"], r["horizon_steps"]) for r in back["tgcn_pooled"]} == set(rows)
    assert back["span"]["first_origin"] == "2024-01-01T00:00:00+00:00"
    assert back["worst_series"]["rows"][0]["series"] in {"A", "B"}
