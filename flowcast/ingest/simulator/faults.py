"""Detector faults: what real loop and microwave detectors do to their readings.

Each rate is the fraction of readings affected. Episodic faults (stuck, zeros) start with a
per-interval probability ``p = f / (D (1 - f))`` for a mean episode of ``D`` intervals, which
makes the long-run fraction ``f``, and the run starts in that steady state. Per-reading faults
(spike, NaN field, dropout) hit independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcast.ingest.simulator.config import FaultConfig

SPIKE_FLOW = (8.0, 20.0)  # multiplier range on the true flow (plus 30 vehicles)
SPIKE_SPEED_KMH = (160.0, 300.0)


@dataclass
class Readings:
    """Per-sensor readings of one interval (float64 shape ``(N,)``) and which are present."""

    present: np.ndarray  # bool
    flow: np.ndarray
    occupancy: np.ndarray
    speed: np.ndarray


class DetectorFaults:
    """Fault state of ``n`` detectors: ongoing stuck / zero episodes and the last reading."""

    def __init__(self, n: int, config: FaultConfig, interval_s: int,
                 rng: np.random.Generator) -> None:
        self.config = config
        self.stuck_len = max(config.stuck_minutes * 60.0 / interval_s, 1.0)
        self.zeros_len = max(config.zeros_minutes * 60.0 / interval_s, 1.0)
        self.p_stuck = config.stuck / (self.stuck_len * (1.0 - config.stuck))
        self.p_zeros = config.zeros / (self.zeros_len * (1.0 - config.zeros))
        self.stuck_left = self._initial(n, config.stuck, self.stuck_len, rng)
        self.zeros_left = self._initial(n, config.zeros, self.zeros_len, rng)
        self.last = np.full((3, n), np.nan)  # flow, occupancy, speed last reported

    @staticmethod
    def _initial(n: int, fraction: float, mean_len: float, rng: np.random.Generator) -> np.ndarray:
        """Steady state at the start: a ``fraction`` of detectors already mid-episode."""
        ongoing = rng.random(n) < fraction
        return np.where(ongoing, rng.geometric(1.0 / mean_len, n), 0).astype(np.int64)

    def _episodes(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.stuck_left)
        idle = (self.stuck_left == 0) & (self.zeros_left == 0)
        draw = rng.random(n)
        new_stuck = idle & (draw < self.p_stuck)
        new_zeros = idle & ~new_stuck & (draw < self.p_stuck + self.p_zeros)
        self.stuck_left[new_stuck] = rng.geometric(1.0 / self.stuck_len, int(new_stuck.sum()))
        self.zeros_left[new_zeros] = rng.geometric(1.0 / self.zeros_len, int(new_zeros.sum()))
        stuck, zeros = self.stuck_left > 0, self.zeros_left > 0
        self.stuck_left[stuck] -= 1
        self.zeros_left[zeros] -= 1
        return stuck, zeros

    def apply(self, flow: np.ndarray, occupancy: np.ndarray, speed: np.ndarray,
              rng: np.random.Generator) -> Readings:
        """Faulty readings from the true ones (float64 ``(N,)`` each; not modified)."""
        cfg = self.config
        n = len(flow)
        stuck, zeros = self._episodes(rng)
        values = np.stack([flow, occupancy, speed]).astype(np.float64)
        frozen = stuck & ~np.isnan(self.last[0])
        values[:, frozen] = self.last[:, frozen]
        values[0, zeros] = 0.0
        values[2, zeros] = 0.0
        values[1, zeros] = rng.uniform(0.1, 0.9, int(zeros.sum()))
        healthy = ~(stuck | zeros)
        self._spikes(values, healthy & (rng.random(n) < cfg.spike), rng)
        nan_hit = np.flatnonzero(healthy & (rng.random(n) < cfg.nan))
        values[rng.integers(0, 3, len(nan_hit)), nan_hit] = np.nan
        present = rng.random(n) >= cfg.dropout
        self.last[:, present] = values[:, present]
        return Readings(present, values[0], values[1], values[2])

    @staticmethod
    def _spikes(values: np.ndarray, hit: np.ndarray, rng: np.random.Generator) -> None:
        """Implausible values: a flow many times the truth, or an impossible speed."""
        index = np.flatnonzero(hit)
        on_flow = rng.random(len(index)) < 0.5
        flow_at, speed_at = index[on_flow], index[~on_flow]
        values[0, flow_at] = np.round(values[0, flow_at] * rng.uniform(*SPIKE_FLOW, len(flow_at))
                                      + 30.0)
        values[2, speed_at] = rng.uniform(*SPIKE_SPEED_KMH, len(speed_at))
