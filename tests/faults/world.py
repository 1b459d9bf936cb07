"""The fault suite's world: a simulated city written for `flowcast run`, its topics, its
config, and the processes a test starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine_harness import small_city
from kafka import KafkaAdminClient
from kafka_engine_harness import PARTITIONS, Processes, write_config

from flowcast.city import City
from flowcast.config import Settings
from flowcast.formats.city_write import save_city
from flowcast.transport.topics import create_topics, topic_specs


@dataclass
class World:
    """A test's broker settings, city and engine processes."""

    settings: Settings
    city: City
    procs: Processes


def make_world(tmp_path: Path, settings: Settings, admin: KafkaAdminClient) -> World:
    """Create ``settings``' topics (4 partitions), write the city and the config."""
    create_topics(admin, topic_specs(settings.topics, partitions=PARTITIONS))
    city = small_city()
    city_file = tmp_path / "city.geojson"
    save_city(city, city_file)
    config = write_config(tmp_path / "flowcast.toml", settings)
    return World(settings, city, Processes(tmp_path, config, city_file))
