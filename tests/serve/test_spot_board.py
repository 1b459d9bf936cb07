"""The spot board, as the live view applies spot forecasts: the latest forecast per spot and
today's curve, a new curve each local day."""

from __future__ import annotations

from live_harness import MORNING_MS, apply_records, spot_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.serve.view import LiveView

T = MORNING_MS



def test_spot_forecast_and_todays_curve(view: LiveView, city: City,
                                        settings: Settings) -> None:
    topic = settings.topics.spot_forecasts
    spot = str(city.spot_ids[0])
    for n in range(4):
        apply_records(view, topic, spot_records(city, T + n * 900_000, 0.5 + 0.05 * n, 0.95))
    apply_records(view, topic, spot_records(city, T + 3 * 900_000, 0.7, 0.95))  # a repeat replaces
    entry = view.spot(spot)
    assert entry is not None and entry["forecast"]["issued_at"] == T + 3 * 900_000
    assert entry["saturation_now"] == 0.7 and entry["saturation_peak"] == 0.95
    assert [p["issued_at"] for p in entry["curve"]] == [T + n * 900_000 for n in range(4)]
    assert [p["saturation"] for p in entry["curve"]] == [0.5, 0.55, 0.6, 0.7]
    assert entry["curve"][0]["forecast_valid_at"] == T + 3_600_000
    # the next local day starts a new curve
    tomorrow = T + 86_400_000
    apply_records(view, topic, spot_records(city, tomorrow, 0.2))
    assert [p["issued_at"] for p in view.spot(spot)["curve"]] == [tomorrow]
    assert view.spot("nowhere") is None
    assert [s["spot"] for s in view.spots()] == city.spot_ids.tolist()
