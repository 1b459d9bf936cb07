"""The worker of one road readings partition: the sensors of the regions whose key hashes to it
(Kafka's default partitioner), so spatial work never crosses a partition."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcast.city import City, Csr
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import ModelHolder
from flowcast.engine.partition_worker import PartitionWorker, key_partition
from flowcast.engine.road_cycle import RoadCycle
from flowcast.engine.road_state import RoadState
from flowcast.ingest.wire.codec import decode_road_records
from flowcast.kernels.quality_params import QualityParams
from flowcast.models.baselines import Forecaster


class RoadPartition(PartitionWorker):
    """Worker of one partition of the road readings topic: the sensors of the regions keyed
    to it."""

    kind = "road"

    def __init__(self, topic: str, partition: int, n_partitions: int, city: City,
                 settings: Settings, metrics: Metrics, forecaster: Forecaster | None = None,
                 models: ModelHolder | None = None) -> None:
        super().__init__(topic, partition, city, settings, metrics)
        self.output_topic = settings.topics.road_conditions
        owner = key_partition([str(r) for r in city.regions.tolist()], n_partitions)
        self.regions = np.flatnonzero(owner == partition).astype(np.int32)
        self.sensors = np.flatnonzero(np.isin(city.sensor_region, self.regions)).astype(np.int32)
        if len(self.sensors):
            bucket_s = settings.time.road_bucket_s
            interval = settings.engine.road_reporting_interval_s
            self.state = RoadState.for_city(
                city, self.sensors, bucket_s=bucket_s,
                history_buckets=int(settings.time.history_days * 86400 // bucket_s),
                open_slots=settings.engine.open_buckets, reporting_interval_s=interval,
                quality=QualityParams(reporting_interval_s=interval))
            graph = Csr(self.state.indptr, self.state.indices)
            self.cycle = RoadCycle(city, self.sensors, settings, forecaster, models, graph)

    def _decode(self, values: list[bytes | None], headers: list[Any]) -> Any:
        return decode_road_records(values, headers, self.city)
