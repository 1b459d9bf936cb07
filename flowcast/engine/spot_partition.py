"""The worker of one spot readings partition: the spots whose id hashes to it; on going live it
reads the partition's alerts back from the compacted alerts topic."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import SpotModelHolder
from flowcast.engine.outputs import Output
from flowcast.engine.partition_worker import PartitionWorker, key_partition
from flowcast.engine.spot_cycle import SpotCycle
from flowcast.engine.spot_state import SpotState
from flowcast.ingest.wire.codec import decode_spot_records
from flowcast.publish.spots.forecasts import spot_forecast_messages
from flowcast.transport.readback import AlertsReader

log = logging.getLogger("flowcast.engine.loop")


class SpotPartition(PartitionWorker):
    """Worker of one partition of the spot readings topic: the spots keyed to it."""

    kind = "spot"

    def __init__(self, topic: str, partition: int, n_partitions: int, city: City,
                 settings: Settings, metrics: Metrics,
                 models: SpotModelHolder | None = None,
                 alerts_reader: AlertsReader | None = None) -> None:
        super().__init__(topic, partition, city, settings, metrics)
        metrics.describe("flowcast_alerts_total",
                         "Saturation alert messages (CAP Alert, Update, Cancel) published; "
                         "unit: messages")
        metrics.describe("flowcast_alert_readback_failures_total",
                         "Times the alerts topic could not be read back on going live (the "
                         "replayed alert state was kept); unit: attempts")
        self.output_topic = settings.topics.spot_forecasts
        self.alerts_reader = alerts_reader
        owner = key_partition([str(s) for s in city.spot_ids.tolist()], n_partitions)
        self.spots = np.flatnonzero(owner == partition).astype(np.int32)
        if len(self.spots):
            bucket_s = settings.time.spot_bucket_s
            self.state = SpotState.for_city(
                city, self.spots, bucket_s=bucket_s,
                history_buckets=int(settings.time.history_days * 86400 // bucket_s),
                open_slots=settings.engine.open_buckets)
            self.cycle = SpotCycle(city, self.spots, settings, models)

    def _decode(self, values: list[bytes | None], headers: list[Any]) -> Any:
        return decode_spot_records(values, headers, self.city)

    def _on_live(self, now_ms: int) -> None:
        """Make the alerts topic the truth about this partition's alerts: the replay rebuilt
        them from the forecasts of today's forecaster, which may differ from those that were
        published (a new model version)."""
        if self.alerts_reader is None or not isinstance(self.cycle, SpotCycle):
            return
        spots = [str(s) for s in self.cycle.spot_ids.tolist()]
        try:
            messages = self.alerts_reader(spots)
        except Exception as err:  # a broker hiccup must not stop the engine
            self.metrics.inc("flowcast_alert_readback_failures_total")
            log.warning("alerts of %s[%d] not read back (%s); keeping the replayed state",
                        self.topic, self.partition, err)
            return
        # expiry is judged in event time, where the lifecycle resumes (a catching-up engine
        # is hours behind the wall clock)
        state = self.state
        resume_ms = (now_ms if state is None or state.closed_upto is None
                     else state.closed_upto * state.bucket_ms)
        active = self.cycle.restore_alerts(messages, resume_ms)
        log.info("%s[%d]: %d alert message(s) read back, active: %s", self.topic,
                 self.partition, len(messages), ", ".join(active) or "none")

    def _cycle(self, bucket_id: int, end_ms: int, publish: bool) -> list[Output]:
        """Spot forecasts and alerts. The alert lifecycle runs on replayed buckets too, so a
        restarted engine neither re-raises nor forgets an active alert; only live buckets
        publish."""
        assert isinstance(self.cycle, SpotCycle) and isinstance(self.state, SpotState)
        # replayed buckets only feed the alert lifecycle: skip the day view nobody reads
        forecasts = self.cycle.forecasts(self.state, bucket_id, with_day=publish)
        alerts = self.cycle.alert_messages(forecasts)
        if not publish:
            return []
        self.metrics.inc("flowcast_alerts_total", len(alerts))
        topic = self.settings.topics.spot_alerts
        return ([Output(self.output_topic, k, v, None, end_ms)
                 for k, v in spot_forecast_messages(forecasts)]
                + [Output(topic, k, v, None, end_ms) for k, v in alerts])
