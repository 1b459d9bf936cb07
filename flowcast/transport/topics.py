"""flowcast's Kafka topics: what they should look like, and creating them idempotently.

The six topics come from :class:`~flowcast.config.TopicSettings`. All are time-retained
(``retention.ms``) except the alerts topic, which is compacted (the latest alert per spot is its
state). The dead-letter topic keeps records longer, so that people have time to look at bad
input. An existing topic is never changed: ``create_topics`` reports it, and warns when it
differs from what was asked (another partition count, another cleanup policy); ``flowcast topics
create --strict`` turns those warnings into an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource
from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from flowcast.config import TopicSettings
from flowcast.errors import FlowcastUserError

HOUR_MS = 3_600_000
DEADLETTER_MIN_RETENTION_HOURS = 30 * 24  # a month to inspect and replay refused input
CREATE_TIMEOUT_MS = 30_000
# The settings shown by `flowcast topics list` and checked on existing topics.
SHOWN_CONFIGS = ("cleanup.policy", "retention.ms")
_POLICY_WHY = {
    "compact": "the alerts topic must keep the latest alert per spot for restarts; ",
    "delete": "compaction keeps only the latest record per key, not the history span; ",
}


@dataclass(frozen=True)
class TopicSpec:
    """One topic as flowcast wants it: name, partitions, replication and topic-level configs."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicOutcome:
    """What ``create_topics`` did with one spec: ``created`` or ``exists``, and a warning for
    each way an existing topic differs from the spec."""

    spec: TopicSpec
    created: bool
    partitions: int  # the topic's partition count now
    warnings: tuple[str, ...] = ()

    @property
    def differs(self) -> bool:
        """The topic existed and differs from the spec (partitions or cleanup policy)."""
        return bool(self.warnings)


@dataclass(frozen=True)
class TopicInfo:
    """A topic on the broker: partition count and the settings in :data:`SHOWN_CONFIGS`."""

    name: str
    partitions: int
    configs: dict[str, str]


def topic_specs(
    topics: TopicSettings,
    partitions: int | None = None,
    retention_hours: float | None = None,
    deadletter_retention_hours: float | None = None,
) -> list[TopicSpec]:
    """The six flowcast topics, inputs first. ``partitions`` and ``retention_hours`` override
    the settings; the dead-letter topic keeps ``deadletter_retention_hours`` (default: the
    larger of the retention and :data:`DEADLETTER_MIN_RETENTION_HOURS`)."""
    count = partitions if partitions is not None else topics.partitions
    hours = retention_hours if retention_hours is not None else topics.retention_hours
    dead_hours = (deadletter_retention_hours if deadletter_retention_hours is not None
                  else max(hours, DEADLETTER_MIN_RETENTION_HOURS))
    if count < 1 or hours <= 0 or dead_hours <= 0:
        raise FlowcastUserError("partitions and retention hours must be positive; fix the flags")
    compacted = topics.compacted()
    specs = []
    for name in topics.all_names():
        if name in compacted:
            configs = {"cleanup.policy": "compact"}
        else:
            keep = dead_hours if name == topics.deadletter else hours
            configs = {"cleanup.policy": "delete", "retention.ms": str(round(keep * HOUR_MS))}
        specs.append(TopicSpec(name, count, topics.replication_factor, configs))
    return specs


def create_topics(admin: KafkaAdminClient, specs: Sequence[TopicSpec]) -> list[TopicOutcome]:
    """Create each topic in ``specs`` that does not exist, and wait until all have leaders.

    Existing topics are left as they are; their outcome says so and carries a warning for each
    difference that matters (another partition count, another cleanup policy). Raises
    :class:`FlowcastUserError` when the broker refuses a topic (bad name, replication too high).
    """
    request = {
        spec.name: {"num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor,
                    "configs": spec.configs}
        for spec in specs
    }
    response = admin.create_topics(request, timeout_ms=CREATE_TIMEOUT_MS, raise_errors=False)
    errors = {row["name"]: (row["error_code"], row.get("error_message"))
              for row in response["topics"]}
    created, existing = [], []
    for spec in specs:
        code, message = errors.get(spec.name, (0, None))
        if code == 0:
            created.append(spec)
        elif for_code(code) is TopicAlreadyExistsError:
            existing.append(spec)
        else:
            raise FlowcastUserError(
                f"Kafka refused to create topic {spec.name}: {message or for_code(code).__name__}"
                "; check the [topics] settings (names, partitions, replication_factor)"
            )
    if created:
        admin.wait_for_topics([spec.name for spec in created], timeout_ms=CREATE_TIMEOUT_MS)
    current = {info.name: info for info in describe_topics(admin, [s.name for s in existing])}
    outcomes = []
    for spec in specs:
        if spec in created:
            outcomes.append(TopicOutcome(spec, True, spec.partitions))
        else:
            info = current[spec.name]
            outcomes.append(TopicOutcome(spec, False, info.partitions, _drift(spec, info)))
    return outcomes


def describe_topics(admin: KafkaAdminClient, names: Iterable[str] | None = None
                    ) -> list[TopicInfo]:
    """Partition counts and :data:`SHOWN_CONFIGS` of ``names`` (default: every non-internal
    topic), sorted by name. Raises :class:`FlowcastUserError` for a topic that does not exist."""
    wanted = None if names is None else list(names)
    if wanted == []:
        return []
    rows = [row for row in admin.describe_topics(wanted) if not row.get("is_internal")]
    missing = [row["name"] for row in rows if row["error_code"] != 0]
    if missing:
        raise FlowcastUserError(
            f"no topic named {', '.join(missing)} on the broker; create it with "
            "'flowcast topics create' or check the name"
        )
    configs = _topic_configs(admin, [row["name"] for row in rows])
    return sorted(
        (TopicInfo(row["name"], len(row["partitions"]), configs.get(row["name"], {}))
         for row in rows),
        key=lambda info: info.name,
    )


def format_outcome(outcome: TopicOutcome) -> str:
    """One line for the person who ran ``topics create``."""
    spec = outcome.spec
    if outcome.created:
        retention = _describe_retention(spec.configs)
        return f"created {spec.name} ({spec.partitions} partitions, {retention})"
    if outcome.differs:
        return (f"exists  {spec.name} ({outcome.partitions} partitions); differs from what was "
                "asked, left unchanged")
    return f"exists  {spec.name} ({outcome.partitions} partitions); left unchanged"


def format_info(info: TopicInfo) -> str:
    """One ``topics list`` line: name, partition count, cleanup policy and retention."""
    return f"{info.name}  partitions={info.partitions}  {_describe_retention(info.configs)}"


def _topic_configs(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource("TOPIC", name, list(SHOWN_CONFIGS)) for name in names]
    try:
        described = admin.describe_configs(resources, config_filter="all")
    except KafkaError:
        return {}  # configs are informative only; partitions still say what matters
    return {
        name: {key: str(entry.get("value")) for key, entry in entries.items()}
        for name, entries in described.get("topic", {}).items()
    }


def _drift(spec: TopicSpec, info: TopicInfo) -> tuple[str, ...]:
    warnings = []
    if info.partitions < spec.partitions:
        warnings.append(
            f"{spec.name} has {info.partitions} partitions, fewer than the {spec.partitions} "
            "asked; left unchanged (adding partitions moves keys, so do it deliberately with "
            "kafka-topics --alter)"
        )
    elif info.partitions > spec.partitions:
        warnings.append(
            f"{spec.name} has {info.partitions} partitions, more than the {spec.partitions} "
            "asked; left unchanged (Kafka cannot remove partitions: delete and recreate the "
            "topic, or ask for its count)"
        )
    want_policy = spec.configs.get("cleanup.policy")
    have_policy = info.configs.get("cleanup.policy")
    if want_policy and have_policy and have_policy != want_policy:
        warnings.append(
            f"{spec.name} has cleanup.policy={have_policy}, flowcast expects {want_policy}; "
            f"left unchanged ({_POLICY_WHY.get(want_policy, '')}change it with kafka-configs "
            f"--alter --add-config cleanup.policy={want_policy})"
        )
    return tuple(warnings)


def _describe_retention(configs: dict[str, str]) -> str:
    policy = configs.get("cleanup.policy", "delete")
    if "delete" not in policy:
        return f"cleanup.policy={policy}"
    raw = configs.get("retention.ms")
    if raw is None or raw == "None":
        return f"cleanup.policy={policy}"
    if int(raw) < 0:
        return f"cleanup.policy={policy}, retention unlimited"
    return f"cleanup.policy={policy}, retention {int(raw) / HOUR_MS:g} h"
