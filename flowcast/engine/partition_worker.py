"""What road and spot partition workers share: replay bookkeeping, time checks, the add/close
loop, dead letters.

One worker per assigned input partition decodes, validates, accumulates, closes and forecasts.
Each worker keeps its own event-time watermark. While a worker replays records below
``replay_until`` (state being rebuilt after an assignment) it publishes nothing and sends no
dead letters: those went out the first time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from kafka.partitioner.default import murmur2

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.engine.outputs import Output, StepResult
from flowcast.engine.road_cycle import RoadCycle
from flowcast.engine.road_state import RoadState
from flowcast.engine.spot_cycle import SpotCycle
from flowcast.engine.spot_state import SpotState
from flowcast.engine.watermark import Watermark
from flowcast.ingest.wire.deadletter import (
    AHEAD_OF_WINDOW,
    FUTURE_TIMESTAMP,
    MISROUTED,
    TOO_OLD,
    DeadLetter,
    letters_for_readings,
    letters_for_rejects,
)
from flowcast.kernels import buckets as kb


def key_partition(keys: Sequence[str], partitions: int) -> np.ndarray:
    """The partition Kafka's default partitioner gives each key (murmur2, as the Java client)."""
    return np.array([(murmur2(k.encode()) & 0x7FFFFFFF) % partitions for k in keys],
                    dtype=np.int32)


class PartitionWorker:
    """What road and spot workers share: replay bookkeeping, time checks, the add/close loop,
    dead letters. Subclasses set ``state``, ``cycle``, ``output_topic`` and decode."""

    kind = ""

    def __init__(self, topic: str, partition: int, city: City, settings: Settings,
                 metrics: Metrics) -> None:
        self.topic = topic
        self.partition = partition
        self.city = city
        self.settings = settings
        self.metrics = metrics
        metrics.describe(f"flowcast_{self.kind}_cycle_seconds",
                         f"Time one {self.kind} forecast cycle takes, from a closed bucket to "
                         "its output messages; unit: seconds")
        self.watermark = Watermark(settings.time.allowed_lateness_s * 1000)
        self.replay_until = 0
        self.position: int | None = None  # next offset to process
        self.state: RoadState | SpotState | None = None
        self.cycle: RoadCycle | SpotCycle | None = None
        self.output_topic = ""
        self.live = False  # set once the replay is over, before the first live bucket

    def _on_live(self, now_ms: int) -> None:
        """Called once, when the replay is over and before anything is published."""

    def _go_live(self, now_ms: int) -> None:
        if not self.live:
            self.live = True
            self._on_live(now_ms)

    def _decode(self, values: list[bytes | None], headers: list[Any]) -> Any:
        raise NotImplementedError

    # ----- entry points --------------------------------------------------------------------
    def process(self, records: Sequence[Any], now_ms: int) -> StepResult:
        """Handle polled records of this partition (offset order). Records below
        ``position`` were processed already (a client that fell back to the committed offset
        after a rebalance delivers them again) and are skipped: a reading is counted once."""
        result = StepResult()
        offsets = np.fromiter((r.offset for r in records), np.int64, len(records))
        if self.position is not None and len(offsets) and offsets[0] < self.position:
            first_new = int(np.searchsorted(offsets, self.position))
            records, offsets = records[first_new:], offsets[first_new:]
        cut = int(np.searchsorted(offsets, self.replay_until))
        for part, publish in ((records[:cut], False), (records[cut:], True)):
            if len(part):
                if publish:
                    self._go_live(now_ms)
                self._process_slice(part, now_ms, publish, result)
        if len(records):
            self.position = int(offsets[-1]) + 1
        if not self.replaying:
            self._go_live(now_ms)
        return result

    def idle(self, now_ms: int, idle_timeout_ms: int) -> StepResult:
        """Advance the watermark with the wall clock when the partition is silent."""
        result = StepResult()
        if not self.replaying:
            self._go_live(now_ms)
        if self.watermark.advance_idle(now_ms, idle_timeout_ms):
            self._close(not self.replaying, result)
        return result

    @property
    def replaying(self) -> bool:
        """Whether the worker is still rebuilding state below ``replay_until``."""
        return self.position is not None and self.position < self.replay_until

    # ----- one slice of records ------------------------------------------------------------
    def _process_slice(self, records: Sequence[Any], now_ms: int, publish: bool,
                       result: StepResult) -> None:
        decoded = self._decode([r.value for r in records], [r.headers for r in records])
        for reason, n in decoded.rejects.counts().items():
            self.metrics.inc("flowcast_deadletters_total", n, reason=reason, kind=self.kind)
        if publish:
            self._dead_letter(letters_for_rejects(records, decoded.rejects), result)
        self.metrics.inc("flowcast_readings_total", len(decoded.batch), kind=self.kind)
        source, batch = decoded.source, decoded.batch
        if self.state is None:
            self._refuse(records, source, batch, np.ones(len(batch), bool), MISROUTED, publish,
                         result)
            return
        local = self.state.localize(batch)
        future = local.ts_ms > now_ms + self.settings.time.max_future_s * 1000
        old = local.ts_ms < now_ms - int(self.settings.time.history_days * 86_400_000)
        misrouted = self.state.ids(local) < 0
        for mask, reason in ((misrouted, MISROUTED), (future & ~misrouted, FUTURE_TIMESTAMP),
                             (old & ~misrouted & ~future, TOO_OLD)):
            self._refuse(records, source, batch, mask, reason, publish, result)
        keep = np.flatnonzero(~(misrouted | future | old))
        ahead, late = self._accumulate(local.take(keep), now_ms, publish, result)
        kept_source, kept = source[keep], batch.take(keep)
        self._refuse(records, kept_source, kept, ahead, AHEAD_OF_WINDOW, publish, result)
        self._refuse(records, kept_source, kept, late, TOO_OLD, publish, result)

    def _accumulate(self, batch: Any, now_ms: int, publish: bool,
                    result: StepResult) -> tuple[np.ndarray, np.ndarray]:
        """Add readings, moving the watermark and closing buckets as they go; a poll that
        spans more than the open buckets is taken in several passes. Returns the masks of
        readings that never fitted the open buckets and of those too late to apply."""
        assert self.state is not None
        if self.state.closed_upto is None and len(batch):
            # start at the oldest reading; the loop below walks the open buckets forward
            self.state.start(int(batch.ts_ms.min()) // self.state.bucket_ms)
        pending = np.arange(len(batch))
        ahead_of_window = np.zeros(len(batch), bool)
        too_late = np.zeros(len(batch), bool)
        while len(pending):
            part = batch.take(pending)
            added = self.state.add(part)
            self.metrics.inc("flowcast_late_corrections_total", added.corrected, kind=self.kind)
            too_late[pending[added.status == kb.TOO_OLD]] = True
            ahead = added.status == kb.AHEAD
            fitted = ~ahead & (added.status != kb.INVALID)
            before = self.state.closed_upto
            newest = part.ts_ms[fitted].max() if fitted.any() else part.ts_ms[ahead].min()
            self.watermark.observe(int(newest), now_ms)
            self._close(publish, result)
            if not ahead.any() or (not fitted.any() and self.state.closed_upto == before):
                ahead_of_window[pending[ahead]] = True
                break
            pending = pending[ahead]
        return ahead_of_window, too_late

    def _close(self, publish: bool, result: StepResult) -> None:
        """Close the buckets the watermark has passed and, when publishing, run the forecast
        cycle of each."""
        if self.state is None or self.cycle is None or self.watermark.value is None:
            return
        if not publish:  # a replay rebuilds history only: close everything due at once
            self._count_closed(self.state.close_until(self.watermark.value))
            return
        # One bucket at a time, each forecast straight after its own close: a later close may
        # revise the history of earlier buckets (imputation across a gap), and a bucket's
        # outputs must not depend on how many buckets one poll happened to close.
        target = self.watermark.value // self.state.bucket_ms
        first = max(self.state.closed_upto or target, target - self.state.ring_buckets)
        for upto in range(first, target + 1):
            self._run_cycles(self.state.close(upto), result)

    def _count_closed(self, closed: Any) -> None:
        if len(closed):
            self.metrics.inc("flowcast_buckets_closed_total", len(closed), kind=self.kind)

    def _run_cycles(self, closed: Any, result: StepResult) -> None:
        if not len(closed):
            return
        self._count_closed(closed)
        for bucket_id, end_ms in zip(closed.bucket_ids.tolist(), closed.end_ms.tolist(),
                                     strict=True):
            started = time.monotonic()
            outputs = self._cycle(bucket_id, end_ms, True)
            self.metrics.observe(f"flowcast_{self.kind}_cycle_seconds",
                                 time.monotonic() - started)
            result.outputs += outputs
            result.closed_at.append(started)

    def _cycle(self, bucket_id: int, end_ms: int, publish: bool) -> list[Output]:
        """The outputs of one closed bucket (computed only when they will be published)."""
        if not publish:
            return []
        assert self.cycle is not None
        messages = self.cycle.run(self.state, bucket_id)  # type: ignore[arg-type]
        return [Output(self.output_topic, k, v, None, end_ms) for k, v in messages]

    def _refuse(self, records: Sequence[Any], source: np.ndarray, batch: Any, mask: np.ndarray,
                reason: str, publish: bool, result: StepResult) -> None:
        n = int(mask.sum())
        if not n:
            return
        self.metrics.inc("flowcast_deadletters_total", n, reason=reason, kind=self.kind)
        if publish:
            self._dead_letter(letters_for_readings(records, source[mask], batch.take(mask),
                                                   reason, self.city), result)

    def _dead_letter(self, letters: list[DeadLetter], result: StepResult) -> None:
        topic = self.settings.topics.deadletter
        result.outputs += [Output(topic, d.key, d.value, d.headers, None) for d in letters]
