"""The alert book, as the live view applies alert messages: an episode's lifecycle with its
history, acknowledgements and Cancel; an Update without its Alert; closed episodes expiring."""

from __future__ import annotations

from typing import Any

import pytest
from live_harness import MORNING_MS, alert_lifecycle, apply_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.spots.cap import alert_messages
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
