"""What a partition worker hands the checkpoint: records to publish, and when their buckets
closed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Output:
    """One record to publish: topic, key, value, headers, and its timestamp (event time, epoch
    ms; None = the send time)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None
    timestamp_ms: int | None


@dataclass
class StepResult:
    """What a worker produced for one slice of records (or one idle tick)."""

    outputs: list[Output] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)  # monotonic time each bucket closed
