"""``flowcast topics``: create flowcast's Kafka topics (idempotently) and list them."""

from __future__ import annotations

import click
from kafka import KafkaAdminClient

from flowcast.cli.flags import Number, WholeNumber
from flowcast.config import Settings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.transport.kafka_client import admin_client
from flowcast.transport.topics import (
    TopicInfo,
    create_topics,
    describe_topics,
    format_info,
    format_outcome,
    topic_specs,
)

DEFAULT_TIMEOUT_S = 10.0
POSITIVE_NUMBER = Number(min=0, min_open=True, expects="a positive number")

_kafka_option = click.option(
    "--kafka", "bootstrap", metavar="BOOTSTRAP",
    help="Kafka bootstrap HOST:PORT (default: kafka.bootstrap from the config or "
         "FLOWCAST_KAFKA_BOOTSTRAP).")
_config_option = click.option(
    "--config", "config_file", metavar="FILE", help="Settings file (default ./flowcast.toml).")
_timeout_option = click.option(
    "--timeout", metavar="SECONDS", type=POSITIVE_NUMBER,
    default=DEFAULT_TIMEOUT_S, show_default=True,
    help="How long to wait for the broker to answer.")


@click.group("topics")
def topics() -> None:
    """Create and inspect flowcast's Kafka topics."""


@topics.command("create", short_help="Create flowcast's six topics (idempotent).")
@_kafka_option
@click.option("--partitions", metavar="N",
              type=WholeNumber(min=1, expects="a positive whole number"),
              help="Partitions per topic (default topics.partitions, 6).")
@click.option("--retention-hours", metavar="H", type=POSITIVE_NUMBER,
              help="Retention of the time-kept topics (default topics.retention_hours, 216).")
@click.option("--deadletter-retention-hours", metavar="H", type=POSITIVE_NUMBER,
              help="Retention of the dead-letter topic (default: a month, or --retention-hours "
                   "if longer).")
@click.option("--strict", is_flag=True,
              help="Exit 2 when an existing topic differs from what was asked (partition count, "
                   "cleanup policy) instead of only warning.")
@_config_option
@_timeout_option
def create(bootstrap: str | None, partitions: int | None, retention_hours: float | None,
           deadletter_retention_hours: float | None, strict: bool, config_file: str | None,
           timeout: float) -> None:
    """Create the six flowcast topics; existing ones are reported and left unchanged, with a
    warning for each one whose partition count or cleanup policy differs from what was asked
    (with --strict, an error: exit 2)."""
    settings = load_settings(config_file, overrides={
        "kafka": {"bootstrap": bootstrap},
        "topics": {"partitions": partitions, "retention_hours": retention_hours},
    })
    specs = topic_specs(settings.topics, deadletter_retention_hours=deadletter_retention_hours)
    with admin_client(settings.kafka, timeout_s=timeout) as admin:
        outcomes = create_topics(admin, specs)
    for outcome in outcomes:
        click.echo(format_outcome(outcome))
        for warning in outcome.warnings:
            click.echo(f"warning: {warning}", err=True)
    made = sum(outcome.created for outcome in outcomes)
    click.echo(f"{made} created, {len(outcomes) - made} already existed "
               f"at {settings.kafka.bootstrap}")
    differing = [outcome.spec.name for outcome in outcomes if outcome.differs]
    if strict and differing:
        raise FlowcastUserError(
            f"{len(differing)} existing topic(s) differ from what was asked: "
            f"{', '.join(differing)} (see the warnings above); fix them on the broker or ask "
            "for what they are (--partitions, [topics] settings)")


@topics.command("list", short_help="List flowcast's topics: partitions, cleanup, retention.")
@_kafka_option
@click.option("--all", "show_all", is_flag=True,
              help="Every topic on the broker, not only flowcast's.")
@_config_option
@_timeout_option
def list_topics(bootstrap: str | None, show_all: bool, config_file: str | None,
                timeout: float) -> None:
    """List flowcast's topics with partitions, cleanup policy and retention."""
    settings = load_settings(config_file, overrides={"kafka": {"bootstrap": bootstrap}})
    with admin_client(settings.kafka, timeout_s=timeout) as admin:
        if show_all:
            infos, missing = describe_topics(admin), []
        else:
            infos, missing = _flowcast_topics(admin, settings)
    for info in infos:
        click.echo(format_info(info))
    for name in missing:
        click.echo(f"{name}  missing (run 'flowcast topics create')")


def _flowcast_topics(admin: KafkaAdminClient, settings: Settings
                     ) -> tuple[list[TopicInfo], list[str]]:
    names = settings.topics.all_names()
    present = set(admin.list_topics())
    infos = describe_topics(admin, [n for n in names if n in present])
    return infos, [n for n in names if n not in present]
