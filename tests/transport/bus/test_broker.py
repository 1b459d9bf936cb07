"""The bus's topics and consumer groups: creation, partitions, rebalancing."""

from __future__ import annotations

import pytest
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import TopicPartition

from flowcast.transport.bus.broker import Bus
from flowcast.transport.bus.consumer import BusConsumer

T = "readings"


def tp(p: int, topic: str = T) -> TopicPartition:
    return TopicPartition(topic, p)


class Recorder(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, set[TopicPartition]]] = []

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.events.append(("revoked", set(revoked)))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.events.append(("assigned", set(assigned)))


def test_group_members_split_partitions_and_rebalance() -> None:
    bus = Bus(default_partitions=4)
    bus.create_topic(T)
    a_events, b_events = Recorder(), Recorder()
    a = BusConsumer(bus=bus, group_id="g")
    a.subscribe([T], listener=a_events)
    a.poll()
    assert a.assignment() == {tp(p) for p in range(4)}
    b = BusConsumer(bus=bus, group_id="g")
    b.subscribe([T], listener=b_events)
    a.poll()
    b.poll()
    assert a.assignment() | b.assignment() == {tp(p) for p in range(4)}
    assert not a.assignment() & b.assignment() and len(b.assignment()) == 2
    assert a_events.events[-2][0] == "revoked" and a_events.events[-1] == ("assigned",
                                                                            a.assignment())
    b.close()
    a.poll()
    assert a.assignment() == {tp(p) for p in range(4)}
    other_group = bus.consumer(T, group_id="h")
    other_group.poll()
    assert len(other_group.assignment()) == 4  # groups are independent


def test_topics_and_partitions() -> None:
    bus = Bus(default_partitions=3)
    bus.create_topic("a", 5)
    bus.producer().send("b", b"x")  # auto-created
    assert bus.topics() == {"a", "b"}
    assert bus.partitions_for_topic("a") == set(range(5))
    assert bus.partitions_for_topic("b") == set(range(3))
    assert bus.partitions_for_topic("c") is None
    with pytest.raises(ValueError):
        bus.create_topic("a", 2)
    with pytest.raises(ValueError):
        bus.producer().send("a", b"x", partition=9)
