"""The alert book, as the live view applies alert messages: an episode's lifecycle with its
history, acknowledgements and Cancel; an Update without its Alert; closed episodes expiring;
the figures an alert was sent with beside the spot's figures now, times in epoch ms, and
cancelled episodes listed after every active one."""

from __future__ import annotations

from typing import Any

import pytest
from live_harness import MORNING_MS, alert_lifecycle, apply_records, spot_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.spots.cap import alert_messages
from flowcast.publish.spots.cap_read import message_parameters, parse_cap_time
from flowcast.serve.alert_book import sent_figures
from flowcast.serve.view import LiveView

T = MORNING_MS



def test_alert_lifecycle_history_acks_and_cancel(view: LiveView, city: City,
                                                 settings: Settings) -> None:
    spot = "holiday-beach"
    messages = alert_lifecycle(city, spot, T)
    assert messages[0].msg_type == "Alert"
    assert messages[-1].msg_type == "Cancel"
    events: list[tuple[str, dict[str, Any]]] = []
    view.add_listener(lambda kind, payload: events.append((kind, payload)))
    records = alert_messages(messages)
    apply_records(view, settings.topics.spot_alerts, records[:-1])  # Alert and Updates
    [active] = view.alerts()
    root = messages[0].identifier
    assert active["identifier"] == root and active["status"] == "active"
    assert [h["msgType"] for h in active["history"]] == [m.msg_type for m in messages[:-1]]
    assert active["messages"] == [m.to_dict() for m in messages[:-1]]
    assert active["latest"] == messages[-2].identifier and not active["acknowledged"]
    assert view.spot(spot)["alert"]["identifier"] == root
    # a duplicate (at-least-once delivery) changes nothing
    apply_records(view, settings.topics.spot_alerts, records[:1])
    assert len(view.alerts()[0]["history"]) == len(messages) - 1
    # acknowledging the latest message; unknown identifiers raise KeyError
    ack = view.acknowledge(messages[-2].identifier, "duty officer", "gates told")
    assert (ack["alert"], ack["by"], ack["note"], ack["spot"]) == (
        root, "duty officer", "gates told", spot)
    assert view.alerts()[0]["acknowledged"] is True
    with pytest.raises(KeyError):
        view.acknowledge("flowcast-nope-1-0", "x")
    # the Cancel closes the episode; it stays listed among the recently cancelled
    apply_records(view, settings.topics.spot_alerts, records[-1:])
    assert view.alerts() == []
    [closed] = view.alerts(include_cancelled=True)
    assert closed["status"] == "cancelled" and closed["msgType"] == "Cancel"
    assert closed["acks"] == [ack]
    assert view.alert(messages[-1].identifier)["identifier"] == root
    kinds = [k for k, _ in events]
    assert kinds == ["alert"] * (len(messages) - 1) + ["ack", "alert"]
    assert events[-1][1]["message"] == messages[-1].to_dict()


def test_an_update_without_its_alert_still_opens_the_episode(view: LiveView, city: City,
                                                             settings: Settings) -> None:
    """On a compacted topic the Alert may be gone: the latest Update is enough."""
    messages = alert_lifecycle(city, "qilou-old-street", T)
    update = next(m for m in messages if m.msg_type == "Update")
    view.apply(settings.topics.spot_alerts, update.key(), update.value())
    [active] = view.alerts()
    assert active["identifier"] == messages[0].identifier
    assert active["latest"] == update.identifier
    view.acknowledge(messages[0].identifier, "desk")  # by the episode's first identifier
    assert view.alerts()[0]["acks"][0]["message"] == update.identifier


def test_cancelled_alerts_expire(city: City, settings: Settings) -> None:
    view = LiveView(city, settings, cancelled_keep_s=0.0)
    apply_records(view, settings.topics.spot_alerts,
           alert_messages(alert_lifecycle(city, "holiday-beach", T)))
    assert view.alerts(include_cancelled=True) == []


def test_alerts_carry_the_figures_they_were_sent_with_and_todays(view: LiveView, city: City,
                                                                  settings: Settings) -> None:
    spot = "holiday-beach"
    messages = alert_lifecycle(city, spot, T - 3 * 3_600_000)
    active = [m for m in messages if m.msg_type != "Cancel"]
    apply_records(view, settings.topics.spot_alerts, alert_messages(active))
    [alert] = view.alerts()
    latest = active[-1].to_dict()
    params = message_parameters(latest)
    sent = alert["figures"]
    assert sent["saturation_now"] == float(params["saturationNow"])
    assert sent["saturation_peak"] == float(params["saturationPeak"])
    assert sent["threshold"] == 1.0 and sent["peak_at"] == parse_cap_time(params["peakTime"])
    assert alert["sent_at"] == parse_cap_time(latest["sent"])
    assert alert["onset_at"] == parse_cap_time(latest["info"]["onset"])
    assert alert["expires_at"] == parse_cap_time(latest["info"]["expires"])
    assert [h["sent_at"] for h in alert["history"]] == [
        parse_cap_time(m.to_dict()["sent"]) for m in active]
    # no forecast yet: the current figures are unknown, not the ones sent
    assert alert["current"]["saturation_now"] is None
    # the spot's figures now, beside the ones sent
    apply_records(view, settings.topics.spot_forecasts, spot_records(city, T, 0.7, 1.05))
    current = view.alerts()[0]["current"]
    assert (current["issued_at"], current["saturation_now"], current["saturation_peak"]) == (
        T, 0.7, 1.05)
    assert current["peak_at"] == T + 6 * 3_600_000 and current["peak_passed"] is False
    assert view.spot(spot)["alert"]["current"] == current
    assert view.alert(alert["identifier"])["current"] == current


def test_sent_figures_read_what_is_there() -> None:
    assert sent_figures({"saturationNow": "0.01", "saturationPeak": "0.9",
                         "peakTime": "2026-10-02T12:15:00+08:00", "threshold": "0.8"}) == {
        "saturation_now": 0.01, "saturation_peak": 0.9, "peak_at": 1790914500000,
        "threshold": 0.8}
    assert sent_figures({"saturationNow": "NaN", "peakTime": "12:15"}) == {
        "saturation_now": None, "saturation_peak": None, "peak_at": None, "threshold": None}


def test_cancelled_alerts_come_after_every_active_one(view: LiveView, city: City,
                                                      settings: Settings) -> None:
    topic = settings.topics.spot_alerts
    early = alert_lifecycle(city, "qilou-old-street", T - 6 * 3_600_000)
    apply_records(view, topic, alert_messages(early))  # raised and cancelled
    late = alert_lifecycle(city, "wuzhizhou-island", T)
    apply_records(view, topic, alert_messages(late[:-1]))  # still active
    again = alert_lifecycle(city, "qilou-old-street", T)
    apply_records(view, topic, alert_messages(again))  # raised and cancelled, more recently
    hb = alert_lifecycle(city, "holiday-beach", T)
    apply_records(view, topic, alert_messages(hb[:-1]))
    listed = view.alerts(include_cancelled=True)
    assert [(a["spot"], a["status"]) for a in listed] == [
        ("holiday-beach", "active"), ("wuzhizhou-island", "active"),
        ("qilou-old-street", "cancelled"), ("qilou-old-street", "cancelled")]
    assert [a["identifier"] for a in listed[2:]] == [again[0].identifier, early[0].identifier]
