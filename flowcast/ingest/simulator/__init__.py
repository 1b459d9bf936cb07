"""A synthetic city that behaves like a real one: registry, road detectors, scenic-spot gates.

Public API (stable; the streaming code and the CLI build on it)::

    generate_city(n_sensors: int, n_spots: int, seed: int = 0,
                  name: str = "haikou-synthetic") -> City
        # a grid-ish road network around Haikou with expressway corridors, regions,
        # scenic spots and guidance screens, validated through city_from_geojson

    SimulatorConfig(report_interval_s=60, spot_interval_s=300, headcount_interval_s=3600,
                    road_bucket_s=300, spot_bucket_s=900, demand_scale=1.0,
                    tourism_scale=1.0, incidents_per_segment_day=0.01,
                    incident_minutes=(15.0, 90.0), incident_capacity=(0.2, 0.5),
                    faults=FaultConfig(...))            # frozen dataclass
    FaultConfig(dropout=0.01, nan=0.005, stuck=0.01, stuck_minutes=30.0,
                zeros=0.005, zeros_minutes=120.0, spike=0.001, gate_dropout=0.005)

    sim = Simulator(city: City, start: datetime, seed: int = 0,
                    config: SimulatorConfig | None = None)
        # start: tz-aware (naive = the city's local time), on a spot_interval_s boundary
    sim.report_interval_s: int            # road detector reporting interval (s)
    sim.spot_interval_s: int              # gate reporting interval (s)
    sim.now: datetime                     # end of the last simulated interval (UTC)
    sim.now_ms: int                       # the same, epoch milliseconds
    sim.step() -> tuple[int, RoadBatch, SpotBatch]
        # one road reporting interval: (ts_ms of its end, road readings, spot readings);
        # the spot batch is empty except where a gate interval or a head count ends
    sim.batches(until: datetime | None = None) -> Iterator[tuple[int, RoadBatch, SpotBatch]]
        # step() until ``now`` reaches ``until`` (None: forever)
    sim.step_until(t_end: datetime) -> tuple[RoadBatch, SpotBatch]   # concatenated
    sim.add_incident(segment: int, at: datetime, minutes: float,
                     capacity_factor: float = 0.3) -> None
    sim.spot_truth -> SpotTruth            # arrivals and people inside, last gate interval
    sim.last_segments -> SegmentState | None   # true flow/speed/occupancy/queue per segment
    sim.active_incidents -> np.ndarray     # segments with an incident at ``now``

    simulate_history(city: City, start: datetime, days: float, seed: int = 0,
                     config: SimulatorConfig | None = None,
                     progress: bool = True) -> FlowDataset
        # 5-min road buckets (flow sum, occupancy mean, flow-weighted speed) and
        # 15-min spot buckets (entries, exits, arrivals, visitors), city.geojson text

The model, its parameters and the CLI are described in ``docs/simulator.md``.

Determinism: the same city, seed, start and config give identical batches however the caller
slices the time range (every interval draws from its own counter-based random stream).
"""

from __future__ import annotations

from flowcast.ingest.simulator.citygen import generate_city
from flowcast.ingest.simulator.config import FaultConfig, SimulatorConfig
from flowcast.ingest.simulator.core import Simulator
from flowcast.ingest.simulator.history import simulate_history
from flowcast.ingest.simulator.spots import SpotTruth

__all__ = ["FaultConfig", "Simulator", "SimulatorConfig", "SpotTruth", "generate_city",
           "simulate_history"]
