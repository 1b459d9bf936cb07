"""The spot board, as the live view applies spot forecasts: the latest forecast per spot and
today's curve, a new curve each local day, and a peak that has its time and is never shown
below now without saying that it has passed."""

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


def test_the_peak_is_never_below_now_and_has_its_time(view: LiveView, city: City,
                                                      settings: Settings) -> None:
    topic = settings.topics.spot_forecasts
    spot = str(city.spot_ids[0])
    # rising: the peak is ahead, at the last horizon
    apply_records(view, topic, spot_records(city, T, 0.6, 0.9))
    entry = view.spot(spot)
    assert (entry["saturation_now"], entry["saturation_peak"]) == (0.6, 0.9)
    assert entry["peak_at"] == entry["forecast_peak_at"] == T + 6 * 3_600_000
    assert entry["peak_passed"] is False and entry["issued_at"] == T
    # 120 % now and falling to 88 %: the peak is now, never shown lower than now
    apply_records(view, topic, spot_records(city, T + 900_000, 1.2, 0.88))
    entry = view.spot(spot)
    assert entry["saturation_peak"] == 1.2 and entry["peak_at"] == T + 900_000
    assert entry["forecast_peak"] == 1.2  # the first horizon still 1.2 (a flat start)
    assert entry["peak_passed"] is False
    # later, 70 % and nothing ahead reaches today's 120 %: the peak has passed, and when
    apply_records(view, topic, spot_records(city, T + 1_800_000, 0.7, 0.5))
    entry = view.spot(spot)
    assert (entry["saturation_now"], entry["saturation_peak"]) == (0.7, 0.7)
    assert entry["peak_at"] == T + 1_800_000 and entry["forecast_peak"] == 0.7
    assert entry["peak_passed"] is True
    assert (entry["day_high"], entry["day_high_at"]) == (1.2, T + 900_000)
    # a spot without any forecast has no figures at all
    empty = LiveView(city, settings).spot(spot)
    assert empty is not None
    assert [empty[k] for k in ("saturation_now", "saturation_peak", "peak_at", "day_high",
                               "forecast_peak")] == [None] * 5
    assert empty["peak_passed"] is False
