"""Parameters of the simulator: reporting intervals, demand levels, incidents, detector faults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from flowcast.errors import FlowcastUserError

_DAY_S = 86_400


@dataclass(frozen=True)
class FaultConfig:
    """Detector fault rates, each the fraction of road readings affected (0..1).

    ``dropout``: the reading is missing; ``nan``: one field is NaN; ``stuck``: the detector
    repeats its last reading, in episodes of ``stuck_minutes`` on average; ``zeros``: a failed
    loop reports flow 0 and speed 0 with occupancy > 0, in episodes of ``zeros_minutes``;
    ``spike``: one field is implausibly large. ``gate_dropout``: fraction of scenic-spot gate
    readings missing.
    """

    dropout: float = 0.01
    nan: float = 0.005
    stuck: float = 0.01
    stuck_minutes: float = 30.0
    zeros: float = 0.005
    zeros_minutes: float = 120.0
    spike: float = 0.001
    gate_dropout: float = 0.005

    def __post_init__(self) -> None:
        for name in ("dropout", "nan", "stuck", "zeros", "spike", "gate_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise FlowcastUserError(f"fault rate {name}={value} must be in [0, 1)")
        for name in ("stuck_minutes", "zeros_minutes"):
            if getattr(self, name) <= 0:
                raise FlowcastUserError(f"fault episode length {name} must be positive")

    @staticmethod
    def none() -> FaultConfig:
        """A configuration with every fault rate at zero (clean detectors)."""
        return FaultConfig(dropout=0.0, nan=0.0, stuck=0.0, zeros=0.0, spike=0.0,
                           gate_dropout=0.0)


@dataclass(frozen=True)
class SimulatorConfig:
    """How the synthetic city behaves.

    Intervals in seconds: ``report_interval_s`` road detectors, ``spot_interval_s`` scenic-spot
    gates, ``headcount_interval_s`` head counts of people inside a spot (0 = none);
    ``road_bucket_s`` / ``spot_bucket_s`` the history dataset's buckets. ``demand_scale``
    multiplies all road demand, ``tourism_scale`` all scenic-spot arrivals.
    ``incidents_per_segment_day`` is the Poisson rate of incidents per segment per day; an
    incident lasts ``incident_minutes`` (uniform range) and leaves ``incident_capacity``
    (uniform range, fraction) of the segment's capacity.
    """

    report_interval_s: int = 60
    spot_interval_s: int = 300
    headcount_interval_s: int = 3600
    road_bucket_s: int = 300
    spot_bucket_s: int = 900
    demand_scale: float = 1.0
    tourism_scale: float = 1.0
    incidents_per_segment_day: float = 0.01
    incident_minutes: tuple[float, float] = (15.0, 90.0)
    incident_capacity: tuple[float, float] = (0.2, 0.5)
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        for item in fields(self):
            if item.name.endswith("_interval_s") or item.name.endswith("_bucket_s"):
                value = getattr(self, item.name)
                if value < 0 or (value == 0 and item.name != "headcount_interval_s"):
                    raise FlowcastUserError(f"{item.name}={value} must be positive")
                if value and _DAY_S % value:
                    raise FlowcastUserError(f"{item.name}={value} must divide a day evenly")
        self._multiple("spot_interval_s", "report_interval_s")
        self._multiple("road_bucket_s", "report_interval_s")
        self._multiple("spot_bucket_s", "spot_interval_s")
        if self.headcount_interval_s:
            self._multiple("headcount_interval_s", "spot_interval_s")
        if self.demand_scale <= 0 or self.tourism_scale < 0:
            raise FlowcastUserError("demand_scale must be positive and tourism_scale not negative")
        if self.incidents_per_segment_day < 0:
            raise FlowcastUserError("incidents_per_segment_day must not be negative")
        lo, hi = self.incident_minutes
        if not 0 < lo <= hi:
            raise FlowcastUserError("incident_minutes must be a range (low, high), 0 < low <= high")
        lo, hi = self.incident_capacity
        if not 0 <= lo <= hi <= 1:
            raise FlowcastUserError("incident_capacity must be a range within [0, 1]")

    def _multiple(self, name: str, of: str) -> None:
        if getattr(self, name) % getattr(self, of):
            raise FlowcastUserError(f"{name} must be a whole multiple of {of}")
