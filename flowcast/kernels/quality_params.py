"""Parameters of the road data-quality checks and imputation, shared by the engine and training.

The live engine (:class:`flowcast.engine.road_state.RoadState`) and the offline history builder
(:mod:`flowcast.models.roads.quality_history`) hand the same two arrays to the same kernels
(:mod:`flowcast.kernels.quality`): ``qp`` from :meth:`QualityParams.to_array` and the per-sensor
``sp`` from :func:`sensor_parameters`. Both live here, beside the kernels they parametrise, so
that the engine and ``flowcast.models`` share them without either importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcast.kernels import quality as kq

DAY_S = 86_400
DEFAULT_LANES = 1.0
DEFAULT_CAPACITY_VPHPL = 2000.0
DEFAULT_FREE_FLOW_KMH = 60.0


@dataclass(frozen=True)
class QualityParams:
    """Thresholds of the data-quality checks and imputation (defaults in PeMS's spirit).

    ``reporting_interval_s`` sets the expected readings per bucket when no per-sensor interval
    is given; ``impute_mask`` is the set of flags that make a whole bucket imputed (NO_DATA
    always does; FEW_SAMPLES and HIGH_OCCUPANCY are left out by default because short buckets
    and real jams carry true values).
    """

    few_samples_fraction: float = 0.5
    zero_flow_occupancy: float = 0.05
    high_occupancy: float = 0.7
    capacity_factor: float = 1.5
    low_occupancy: float = 0.01
    low_occupancy_flow_vphpl: float = 600.0
    stuck_buckets: int = 6
    max_gap_buckets: int = 3
    share_window_buckets: int = 12
    recent_alpha: float = 0.1
    impute_mask: int = kq.DEFAULT_IMPUTE_MASK
    reporting_interval_s: float = 30.0

    def to_array(self, bucket_s: int) -> np.ndarray:
        """The ``qp`` float64 vector the quality kernels read, for buckets of ``bucket_s``."""
        qp = np.zeros(kq.N_QP, np.float64)
        qp[kq.QP_FEW_FRACTION] = self.few_samples_fraction
        qp[kq.QP_ZERO_FLOW_OCC] = self.zero_flow_occupancy
        qp[kq.QP_HIGH_OCC] = self.high_occupancy
        qp[kq.QP_CAPACITY_FACTOR] = self.capacity_factor
        qp[kq.QP_LOW_OCC] = self.low_occupancy
        qp[kq.QP_LOW_OCC_FLOW_VPHPL] = self.low_occupancy_flow_vphpl
        qp[kq.QP_STUCK_BUCKETS] = self.stuck_buckets
        qp[kq.QP_MAX_GAP] = self.max_gap_buckets
        qp[kq.QP_SHARE_WINDOW] = self.share_window_buckets
        qp[kq.QP_RECENT_ALPHA] = self.recent_alpha
        qp[kq.QP_IMPUTE_MASK] = self.impute_mask
        qp[kq.QP_BUCKETS_PER_DAY] = DAY_S // bucket_s if DAY_S % bucket_s == 0 else 0
        qp[kq.QP_BUCKET_HOURS] = bucket_s / 3600.0
        return qp


def per_sensor(value: float | np.ndarray | None, n: int, default: float) -> np.ndarray:
    """``value`` broadcast to ``(n,)`` float32 (a copy); ``default`` everywhere when None."""
    if value is None:
        return np.full(n, default, np.float32)
    return np.array(np.broadcast_to(np.asarray(value, np.float32), (n,)))


def sensor_parameters(
    n_sensors: int, bucket_s: int, quality: QualityParams, *,
    reporting_interval_s: float | np.ndarray | None = None,
    lanes: float | np.ndarray | None = None,
    capacity_vphpl: float | np.ndarray | None = None,
    free_flow_kmh: float | np.ndarray | None = None,
) -> np.ndarray:
    """The per-sensor ``sp`` array ``(N_SP, n_sensors)`` float32 of the quality kernels:
    expected readings per bucket (``bucket_s`` / reporting interval, default the quality's),
    lanes (default 1), capacity in vehicles per hour per lane (default 2000) and free-flow
    speed in km/h (default 60). Scalars broadcast."""
    interval = per_sensor(reporting_interval_s, n_sensors, quality.reporting_interval_s)
    sp = np.empty((kq.N_SP, n_sensors), np.float32)
    sp[kq.SP_EXPECTED] = bucket_s / np.maximum(interval, 1e-3)
    sp[kq.SP_LANES] = per_sensor(lanes, n_sensors, DEFAULT_LANES)
    sp[kq.SP_CAPACITY] = per_sensor(capacity_vphpl, n_sensors, DEFAULT_CAPACITY_VPHPL)
    sp[kq.SP_FREE_FLOW] = per_sensor(free_flow_kmh, n_sensors, DEFAULT_FREE_FLOW_KMH)
    return sp
