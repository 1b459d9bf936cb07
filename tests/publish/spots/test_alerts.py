"""Saturation alerts: the lifecycle (raise, update, cancel, no flapping), restart and restore,
and the CAP 1.2 shape of the messages."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from flowcast.city import City
from flowcast.config import AlertSettings, Settings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.publish.spots.alerts import AlertTracker
from flowcast.publish.spots.cap import PARAMETER_NAMES, CapAlert, alert_messages
from flowcast.publish.spots.cap_read import (
    CATEGORIES,
    CERTAINTIES,
    MSG_TYPES,
    SCOPES,
    SEVERITIES,
    URGENCIES,
    cap_problems,
    message_parameters,
    parse_cap_time,
)
from flowcast.publish.spots.forecasts import SpotForecasts, spot_forecast_messages
from flowcast.publish.spots.saturation import crossing_times
from flowcast.publish.spots.saturation_cycle import SaturationCycle

ZONE = ZoneInfo("Asia/Shanghai")
MIN = 60_000
BUCKET = 15 * MIN
HORIZONS = np.arange(15, 241, 15)  # every bucket up to four hours
SPOTS = {  # id: (name, instantaneous capacity)
    "wuzhizhou-island": ("Wuzhizhou Island", 5000.0),
    "yalong": ("Yalong Bay", 8000.0),
    "nanshan": ("Nanshan", 10000.0),
    "tianya": ("Tianya Haijiao", 6000.0),
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")

Curve = Callable[[np.ndarray], np.ndarray]  # epoch ms -> saturation


def at(hhmm: str) -> int:
    """Epoch ms of a local time on 1 October 2025 (a Golden Week holiday) in Sanya."""
    hour, minute = map(int, hhmm.split(":"))
    return round(dt.datetime(2025, 10, 1, hour, minute, tzinfo=ZONE).timestamp() * 1000)


T0 = at("08:00")


def issued(n: int) -> int:
    """Issue time of cycle ``n``: one spot bucket apart from 08:00."""
    return T0 + n * BUCKET


def ramp(*knots: tuple[str, float]) -> Curve:
    """Saturation through ``(HH:MM, saturation)`` knots, linear between, flat outside."""
    times = np.array([at(t) for t, _ in knots], dtype=np.float64)
    values = np.array([v for _, v in knots])
    return lambda ms: np.interp(np.asarray(ms, dtype=np.float64), times, values)


def flat(value: float) -> Curve:
    """The same saturation at every time."""
    return lambda ms: np.full(np.shape(ms), value)


QUIET: dict[str, Curve] = {"yalong": flat(0.4), "nanshan": flat(0.9), "tianya": flat(0.5)}


@pytest.fixture(scope="module")
def city() -> City:
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [109.2 + k / 10, 18.3]},
         "properties": {"kind": "spot", "id": spot, "name": name, "capacity_instant": cap,
                        "capacity_daily": cap * 4}}
        for k, (spot, (name, cap)) in enumerate(SPOTS.items())]
    return city_from_geojson({"type": "FeatureCollection",
                              "flowcast": {"city": "sanya", "timezone": "Asia/Shanghai"},
                              "features": features})


def make_cycle(n: int, curves: dict[str, Curve], p10: dict[str, Curve] | None = None
               ) -> SaturationCycle:
    """Cycle ``n`` of the spots in ``curves``: visitors (whole people) now and at each horizon
    read off each spot's curve of absolute time, as a steady forecast would give."""
    now = issued(n)
    valid = now + HORIZONS * MIN
    ids = list(curves)
    cap = np.array([SPOTS[s][1] for s in ids])

    def visitors(given: dict[str, Curve], times: np.ndarray | int) -> np.ndarray:
        return np.round(np.array([given[s](times) for s in ids]) * np.reshape(
            cap, (-1,) + (1,) * np.ndim(times)))

    forecast = visitors(curves, valid)
    lower = None if p10 is None else visitors(p10, valid)
    return SaturationCycle(
        spot_ids=np.array(ids, dtype=object), issued_at_ms=now, valid_at_ms=valid,
        visitors=visitors(curves, now),
        forecast_visitors=forecast, capacity=cap, forecast_p10=lower)


def run(tracker: AlertTracker, phases: list[Curve], start: int = 0,
        others: dict[str, Curve] | None = None) -> dict[int, list[CapAlert]]:
    """Feed cycle ``start + i`` with Wuzhizhou on ``phases[i]``; messages by cycle number."""
    out: dict[int, list[CapAlert]] = {}
    for i, curve in enumerate(phases):
        curves = {"wuzhizhou-island": curve, **(others or QUIET)}
        messages = tracker.step(make_cycle(start + i, curves))
        if messages:
            out[start + i] = messages
    return out


def wuzhizhou(out: dict[int, list[CapAlert]]) -> list[tuple[int, CapAlert]]:
    return [(n, m) for n, ms in sorted(out.items()) for m in ms if m.spot == "wuzhizhou-island"]


# The clean lifecycle: 0.6, rise to 0.85 (crossing 0.8 at 11:00), to 1.05 (crossing 1.0 at
# 11:30), fall to 0.78 (inside the warning's hysteresis), then 0.70 for good.
CALM = flat(0.6)
WARN = ramp(("10:00", 0.6), ("11:00", 0.8), ("11:15", 0.85))
CRIT = ramp(("10:00", 0.6), ("11:00", 0.8), ("11:30", 1.0), ("11:45", 1.05))
EASING = ramp(("10:00", 0.6), ("11:00", 0.78))
LOW = ramp(("10:00", 0.6), ("11:00", 0.7))
CLEAN = [CALM] * 2 + [WARN] * 3 + [CRIT] * 3 + [EASING] * 3 + [LOW] * 9


def test_clean_rise_raises_updates_and_cancels_once_each(city: City) -> None:
    out = wuzhizhou(run(AlertTracker(city), CLEAN))
    assert [(n, m.msg_type) for n, m in out] == [(3, "Alert"), (6, "Update"), (15, "Cancel")]
    (_, alert), (_, update), (_, cancel) = out
    # raised after the pending time (two cycles): the forecast first crossed in cycle 2
    assert alert.sent == "2025-10-01T08:45:00+08:00"
    # onset = the first forecast time at or above 0.8 (the point before is at 0.75 exactly)
    assert alert.info.onset == "2025-10-01T11:00:00+08:00"
    assert (alert.info.severity, alert.parameters["level"]) == ("Moderate", "warning")
    assert alert.parameters["saturationPeak"] == "0.85"
    assert alert.parameters["peakTime"] == "2025-10-01T11:15:00+08:00"
    assert alert.info.headline == "Wuzhizhou Island expected to reach 85% of capacity at 11:15"
    # critical after its own pending time; onset is now the crossing of 1.0
    assert (update.info.severity, update.parameters["level"]) == ("Severe", "critical")
    assert update.info.onset == "2025-10-01T11:30:00+08:00"
    assert update.parameters["saturationPeak"] == "1.05"
    # 0.78 for 30 min: nothing; below 0.75 from 10:45: Cancel after the 60 min hold
    assert cancel.sent == "2025-10-01T11:45:00+08:00"
    assert cancel.info.urgency == "Past"


def test_identifiers_are_stable_and_reference_the_first_alert(city: City) -> None:
    first = wuzhizhou(run(AlertTracker(city), CLEAN))
    again = wuzhizhou(run(AlertTracker(city), CLEAN))
    assert [m.value() for _, m in first] == [m.value() for _, m in again]
    alert = first[0][1]
    base = f"flowcast-wuzhizhou-island-{issued(3)}"
    assert [m.identifier for _, m in first] == [f"{base}-0", f"{base}-1", f"{base}-2"]
    assert alert.references is None and "references" not in alert.to_dict()
    for _, later in first[1:]:
        assert later.references == f"flowcast,{alert.identifier},{alert.sent}"
    # a second episode on the same spot gets a new identifier and references its own Alert
    second = wuzhizhou(run(AlertTracker(city), [*CLEAN, WARN, WARN]))[-1][1]
    assert second.msg_type == "Alert"
    assert second.identifier == f"flowcast-wuzhizhou-island-{issued(21)}-0"


def test_a_long_stay_below_critical_steps_down_to_warning(city: City) -> None:
    out = wuzhizhou(run(AlertTracker(city), [CALM] * 2 + [WARN] * 2 + [CRIT] * 2 + [EASING] * 8))
    assert [(n, m.msg_type, m.parameters["level"]) for n, m in out] == [
        (3, "Alert", "warning"), (5, "Update", "critical"),
        (10, "Update", "warning"),  # 0.78 from 09:30 (cycle 6), held 60 min
    ]
    assert out[-1][1].info.severity == "Moderate"


def noisy_run(city: City, amplitude: float, seed: int = 7) -> tuple[int, list[CapAlert]]:
    """200 cycles of a flat forecast whose level jumps at random within 0.8 +- ``amplitude``
    each cycle (plus +-0.005 between horizons). Returns how many messages a naive rule (alert
    while the peak is over 0.8, cancel when it is not) would send, and ours for the spot."""
    rng = np.random.default_rng(seed)
    tracker = AlertTracker(city)
    naive_on, naive_messages, ours = False, 0, []
    for n in range(200):
        base = 0.8 + rng.uniform(-amplitude, amplitude)
        jitter = rng.uniform(-0.005, 0.005, len(HORIZONS) + 1)
        cycle = make_cycle(n, {"wuzhizhou-island": flat(base), **QUIET})
        cycle.forecast_visitors[0] = np.round((base + jitter[1:]) * 5000)
        cycle.visitors[0] = round((base + jitter[0]) * 5000)
        peak = max(cycle.visitors[0], cycle.forecast_visitors[0].max()) / 5000
        if (peak >= 0.8) != naive_on:
            naive_on, naive_messages = not naive_on, naive_messages + 1
        ours += [m for m in tracker.step(cycle) if m.spot == "wuzhizhou-island"]
    return naive_messages, ours


def test_noisy_forecast_around_the_threshold_does_not_flap(city: City) -> None:
    naive_messages, ours = noisy_run(city, amplitude=0.03)
    assert naive_messages > 80  # the naive rule flaps: about every other cycle
    assert [m.msg_type for m in ours] == ["Alert"]  # ours raises once and holds


def test_wider_noise_updates_only_when_the_peak_really_moved(city: City) -> None:
    # peaks range over 0.755..0.85: wider than the 0.05 that makes a peak move material
    naive_messages, ours = noisy_run(city, amplitude=0.045)
    kinds = [m.msg_type for m in ours]
    assert kinds.count("Alert") == 1 and kinds.count("Cancel") == 0
    assert {m.parameters["level"] for m in ours} == {"warning"}  # never toggles to critical
    assert 0 < kinds.count("Update") < naive_messages / 5
    # every Update says something new: the peak moved by 5 % of capacity, or the onset
    for before, after in itertools.pairwise(ours):
        moved = abs(float(after.parameters["saturationPeak"])
                    - float(before.parameters["saturationPeak"])) >= 0.05
        assert moved or after.info.onset != before.info.onset


def test_a_single_noisy_cycle_raises_nothing(city: City) -> None:
    spike = wuzhizhou(run(AlertTracker(city), [CALM, WARN, CALM, CALM, WARN, CALM]))
    assert spike == []


def test_pending_minutes_and_hold_are_settings(city: City) -> None:
    settings = AlertSettings(pending_cycles=1, pending_min=30, hold_cycles=1, hold_min=15)
    out = wuzhizhou(run(AlertTracker(city, settings), [WARN] * 4 + [LOW] * 3))
    assert [(n, m.msg_type) for n, m in out] == [(2, "Alert"), (5, "Cancel")]


def test_a_cycle_seen_twice_or_without_data_changes_nothing(city: City) -> None:
    tracker = AlertTracker(city)
    first = make_cycle(0, {"wuzhizhou-island": WARN, **QUIET})
    assert wuzhizhou({0: tracker.step(first)}) == []
    assert wuzhizhou({0: tracker.step(first)}) == []  # a repeat is not a second cycle
    raised = wuzhizhou(run(tracker, [WARN], start=1))
    assert [m.msg_type for _, m in raised] == ["Alert"]
    for n in range(2, 12):  # ten cycles without data for the spot: no cancel
        cycle = make_cycle(n, {"wuzhizhou-island": LOW, **QUIET})
        cycle.forecast_visitors[0], cycle.visitors[0] = np.nan, np.nan
        assert wuzhizhou({n: tracker.step(cycle)}) == []
    assert tracker.active()["wuzhizhou-island"] == "warning"


def test_export_and_import_continue_exactly(city: City) -> None:
    whole = run(AlertTracker(city), CLEAN)
    for split in range(1, len(CLEAN)):
        tracker = AlertTracker(city)
        before = run(tracker, CLEAN[:split])
        saved = orjson.loads(orjson.dumps(tracker.to_dict()))  # through JSON, as on disk
        resumed = AlertTracker.from_dict(saved, city)
        after = run(resumed, CLEAN[split:], start=split)
        joined = {**before, **after}
        assert {n: [m.value() for m in ms] for n, ms in joined.items()} == \
            {n: [m.value() for m in ms] for n, ms in whole.items()}, f"split at {split}"


def test_restore_from_the_topic_neither_reraises_nor_forgets(city: City) -> None:
    whole = run(AlertTracker(city), CLEAN)
    published = [v for n in sorted(whole) if n <= 7 for _, v in alert_messages(whole[n])]
    restarted = AlertTracker(city)
    assert restarted.restore_from_messages(published) == ["nanshan", "wuzhizhou-island"]
    assert restarted.active() == {"nanshan": "warning", "wuzhizhou-island": "critical"}
    replay = run(restarted, CLEAN[:8])  # the engine replays history it already published
    assert replay == {}
    after = run(restarted, CLEAN[8:], start=8)
    assert {n: [m.value() for m in ms] for n, ms in after.items()} == \
        {n: [m.value() for m in ms] for n, ms in whole.items() if n >= 8}
    cancel = wuzhizhou(after)[0][1]
    assert cancel.msg_type == "Cancel" and cancel.references.split(",")[1].endswith("-0")


def test_restore_from_a_cancel_or_an_expired_alert_restores_nothing(city: City) -> None:
    whole = run(AlertTracker(city), CLEAN)
    messages = [m for n in sorted(whole) for m in whole[n]]
    restarted = AlertTracker(city)
    restarted.restore_from_messages([m.to_dict() for m in messages])
    assert restarted.active() == {"nanshan": "warning"}  # Wuzhizhou's last word was Cancel
    again = wuzhizhou(run(restarted, [WARN, WARN], start=len(CLEAN)))
    assert [m.msg_type for _, m in again] == ["Alert"] and again[0][1].references is None
    alert = wuzhizhou(whole)[0][1]
    late = AlertTracker(city)
    expires = parse_cap_time(alert.info.expires)
    assert late.restore_from_messages([alert.value()], now_ms=expires + 1) == []
    assert AlertTracker(city).restore_from_messages([alert.value()], now_ms=expires - 1) == \
        ["wuzhizhou-island"]


def test_restore_skips_malformed_messages(city: City) -> None:
    alert = wuzhizhou(run(AlertTracker(city), CLEAN))[0][1].to_dict()
    broken = {**alert, "msgType": "Retract"}
    unknown = orjson.loads(orjson.dumps(alert).replace(b'"wuzhizhou-island"', b'"atlantis"'))
    tracker = AlertTracker(city)
    assert tracker.restore_from_messages([b"not json", broken, unknown]) == []
    assert tracker.active() == {}


def test_cap_fields_are_present_and_well_formed(city: City) -> None:
    out = run(AlertTracker(city), CLEAN)
    messages = [m for ms in out.values() for m in ms]
    assert {m.msg_type for m in messages} == set(MSG_TYPES)
    for message in messages:
        body = orjson.loads(message.value())
        assert message.key() == message.spot.encode()
        assert cap_problems(body) == []
        assert body["status"] == "Actual" and body["scope"] in SCOPES
        info = body["info"]
        assert info["event"] == "Scenic spot saturation"
        assert info["category"] in CATEGORIES and info["urgency"] in URGENCIES
        assert info["severity"] in SEVERITIES and info["certainty"] in CERTAINTIES
        for when in (body["sent"], info["onset"], info["expires"]):
            assert ISO_WITH_OFFSET.match(when) and when.endswith("+08:00")
        params = message_parameters(body)
        assert list(params)[:len(PARAMETER_NAMES)] == list(PARAMETER_NAMES)
        assert params["spotId"] == message.spot and params["capacity"].isdigit()
        assert parse_cap_time(info["expires"]) > parse_cap_time(body["sent"])
        assert info["area"][0]["areaDesc"] == SPOTS[message.spot][0]


def test_cap_problems_names_what_is_wrong(city: City) -> None:
    update = wuzhizhou(run(AlertTracker(city), CLEAN))[1][1].to_dict()
    assert cap_problems(update) == []
    bad = {**update, "references": "just-an-id", "sent": "2025-10-01T09:30:00",
           "info": {**update["info"], "urgency": "Soon", "parameter": []}}
    problems = " | ".join(cap_problems(bad))
    for expected in ("not 'sender,identifier,sent'", "sent '2025-10-01T09:30:00'",
                     "urgency 'Soon'", "parameter spotId is missing"):
        assert expected in problems
    assert cap_problems({"identifier": "a b"})[-1] == "info is missing"


def test_instruction_names_alternatives_with_spare_capacity(city: City) -> None:
    alert = wuzhizhou(run(AlertTracker(city), [WARN] * 2))[0][1]
    # Nanshan is at 0.9 (no spare capacity); the least full come first
    assert alert.info.instruction == (
        "Announce the saturation warning and stop ticket sales at the gates of Wuzhizhou "
        "Island by 11:00 (80% of capacity); direct arrivals to Yalong Bay (40%), "
        "Tianya Haijiao (50%).")
    # spots outside the cycle (another partition) count too; none spare: say so
    busy = {"yalong": flat(0.9), "nanshan": flat(0.9), "tianya": flat(0.78)}
    tracker = AlertTracker(city)
    run(tracker, [WARN], others=busy)
    alone = wuzhizhou({1: tracker.step(make_cycle(1, {"wuzhizhou-island": WARN}),
                                       elsewhere={"tianya": 0.2, "atlantis": 0.1})})[0][1]
    assert alone.info.instruction.endswith("direct arrivals to Tianya Haijiao (20%).")
    crowded = wuzhizhou(run(AlertTracker(city), [WARN] * 2, others=busy))[0][1]
    assert "no other spot has spare capacity" in crowded.info.instruction


def test_urgency_and_certainty(city: City) -> None:
    far = ramp(("10:00", 0.5), ("11:40", 0.5), ("11:45", 0.9))  # crossing ~3.7 h ahead
    over = flat(0.92)
    messages = {}
    near = ramp(("08:30", 0.6), ("09:30", 0.8), ("09:45", 0.85))  # crossing 75 min ahead
    for name, curve in (("far", far), ("over", over), ("near", near)):
        messages[name] = wuzhizhou(run(AlertTracker(city), [curve] * 2))[0][1].info
    assert (messages["over"].urgency, messages["over"].certainty) == ("Immediate", "Observed")
    assert messages["over"].headline.startswith("Wuzhizhou Island at 92% of capacity now")
    assert messages["over"].instruction.startswith(
        "Announce the saturation warning and stop ticket sales at the gates of Wuzhizhou "
        "Island now")
    assert (messages["near"].urgency, messages["near"].certainty) == ("Expected", "Likely")
    assert (messages["far"].urgency, messages["far"].certainty) == ("Future", "Possible")
    # with an interval, certainty comes from the P10: Likely when it crosses as well
    for p10, expected in ((flat(0.81), "Likely"), (flat(0.7), "Possible")):
        tracker = AlertTracker(city)
        alerts = [m for n in range(2) for m in tracker.step(make_cycle(
            n, {"wuzhizhou-island": far, **QUIET}, p10={"wuzhizhou-island": p10, **QUIET}))]
        info = next(m for m in alerts if m.spot == "wuzhizhou-island").info
        assert info.certainty == expected
        assert dict(info.parameters)["saturationPeakP10"] == format(p10(0)[()], "g")


def test_restricted_scope_and_custom_words(city: City) -> None:
    settings = AlertSettings(scope="Restricted", restriction="tourism bureau duty officers",
                             sender="sanya-brain", headline_expected="{spot}: {peak_pct}%")
    alert = wuzhizhou(run(AlertTracker(city, settings), [WARN] * 2))[0][1].to_dict()
    assert alert["scope"] == "Restricted"
    assert alert["restriction"] == "tourism bureau duty officers"
    assert alert["sender"] == "sanya-brain"
    assert alert["info"]["headline"] == "Wuzhizhou Island: 85%"
    assert cap_problems(alert) == []


def test_alert_settings_are_validated() -> None:
    assert Settings().alerts.hysteresis == 0.05
    with pytest.raises(FlowcastUserError, match="bad placeholder"):
        load_settings(path=None, environ={"FLOWCAST_ALERTS_HEADLINE_NOW": "{crowd}"})
    with pytest.raises(FlowcastUserError, match="needs a restriction"):
        load_settings(path=None, environ={"FLOWCAST_ALERTS_SCOPE": "Restricted"})
    with pytest.raises(FlowcastUserError, match=r"alerts\.sender"):
        load_settings(path=None, environ={"FLOWCAST_ALERTS_SENDER": "flow cast"})
    tuned = load_settings(path=None, environ={"FLOWCAST_ALERTS_HOLD_MIN": "30"})
    assert tuned.alerts.hold_min == 30


def test_crossing_times_interpolate_between_horizons() -> None:
    times = np.array([0, 60, 120, 180]) * MIN
    sat = np.array([[0.85, 0.9, 0.9, 0.9],      # over now: the issue time
                    [0.6, 0.7, 0.9, 0.9],       # 0.7 at 60 min, 0.9 at 120: 0.8 at 90 min
                    [0.6, np.nan, 0.81, 0.9],   # unknown before the crossing: its time
                    [0.5, 0.6, 0.79, np.nan]])  # never
    got = crossing_times(sat, times, np.full(4, 0.8))
    assert got.tolist() == [0, 90 * MIN, 120 * MIN, -1]


def test_cycles_from_forecasts_and_from_their_messages(city: City) -> None:
    forecasts = SpotForecasts(
        spot_ids=np.array(["wuzhizhou-island", "tianya"], dtype=object), issued_at_ms=issued(0),
        horizons_min=np.array([60, 120]), capacity_instant=np.array([5000.0, 6000.0]),
        visitors=np.array([3000.0, 1000.0]), arrivals=np.array([10.0, 5.0]),
        forecast_visitors=np.array([[4100.0, 4300.0], [1200.0, 1500.0]]), model="test")
    direct = SaturationCycle.from_forecasts(forecasts)
    (decoded,) = SaturationCycle.from_messages(v for _, v in spot_forecast_messages(forecasts))
    for name in ("valid_at_ms", "visitors", "forecast_visitors", "capacity"):
        assert np.array_equal(getattr(direct, name), getattr(decoded, name)), name
    assert decoded.issued_at_ms == direct.issued_at_ms and decoded.forecast_p10 is None
    with_interval = []
    for _, value in spot_forecast_messages(forecasts):
        message = orjson.loads(value)
        for item in message["forecast"]:
            item["visitors_p10"], item["visitors_p90"] = item["visitors"] - 100, None
        with_interval.append(message)
    (ranged,) = SaturationCycle.from_messages(with_interval)
    assert np.array_equal(ranged.forecast_p10, direct.forecast_visitors - 100)
    assert ranged.forecast_p90 is not None and np.isnan(ranged.forecast_p90).all()
    tracker = AlertTracker.from_settings(city, Settings())
    assert tracker.step(forecasts) == []  # one cycle: pending
    later = SpotForecasts(**{**forecasts.__dict__, "issued_at_ms": issued(1)})
    assert [m.msg_type for m in tracker.step(later)] == ["Alert"]
    with pytest.raises(ValueError, match="atlantis"):
        tracker.step(SpotForecasts(**{**forecasts.__dict__,
                                      "spot_ids": np.array(["atlantis", "tianya"])}))
