"""Saturation of scenic spots for one forecast cycle, computed for all spots at once.

From a :class:`~flowcast.publish.spots.saturation_cycle.SaturationCycle` (visitors now and per
forecast horizon, and the instantaneous capacity: what the alert lifecycle reads each cycle),
:func:`saturation_readings` derives per spot, with numpy over all spots: the saturation
(visitors / capacity) now and at each horizon, the peak and its time, the level at the peak
(0 none, 1 warning, 2 critical), the level the peak still holds with the thresholds lowered by
the hysteresis, and when the forecast first crosses each threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from flowcast.publish.spots.saturation_cycle import SaturationCycle

_MINUTE_MS = 60_000


@dataclass(frozen=True)
class SpotView:
    """One spot's readings in one cycle (Python scalars). Pairs are (warning, critical);
    times are epoch ms, ``-1`` where the forecast never crosses."""

    spot: str
    k: int  # city index
    issued_ms: int
    last_valid_ms: int
    level: int
    level_low: int
    now: float
    peak: float
    peak_at_ms: int
    capacity: float
    onset_ms: tuple[int, int]
    onset_low_ms: tuple[int, int]
    over_now: tuple[bool, bool]
    sure: tuple[bool, bool] | None  # P10 crosses the threshold (None: no interval)
    peak_p10: float | None
    peak_p90: float | None
    sat: np.ndarray  # (T,) saturation now, then at each horizon
    times: np.ndarray  # (T,) int64 epoch ms: the issue time, then each valid_at

    def saturation_at(self, ms: int) -> float:
        """The forecast saturation at ``ms``, interpolated between horizons; the current
        saturation for a time not after the issue time; NaN when unknown."""
        if ms <= self.issued_ms:
            return self.now
        finite = np.isfinite(self.sat)
        if not finite.any():
            return float("nan")
        return float(np.interp(ms, self.times[finite], self.sat[finite]))


@dataclass(frozen=True)
class SaturationReadings:
    """Per-spot arrays of one cycle; see :func:`saturation_readings`."""

    spot_ids: np.ndarray
    issued_ms: int
    last_valid_ms: int
    times: np.ndarray  # (T,) int64: the issue time, then each valid_at
    sat: np.ndarray  # (K, T)
    known: np.ndarray  # (K,) bool: some finite saturation
    now: np.ndarray  # (K,)
    peak: np.ndarray  # (K,)
    peak_at_ms: np.ndarray  # (K,) int64
    peak_p10: np.ndarray | None
    peak_p90: np.ndarray | None
    level: np.ndarray  # (K,) int8
    level_low: np.ndarray  # (K,) int8
    capacity: np.ndarray
    onset_ms: np.ndarray  # (K, 2) int64
    onset_low_ms: np.ndarray  # (K, 2) int64
    over_now: np.ndarray  # (K, 2) bool
    sure: np.ndarray | None  # (K, 2) bool

    def view(self, i: int, k: int) -> SpotView:
        """Row ``i`` as scalars; ``k`` is the spot's city index."""
        return SpotView(
            spot=str(self.spot_ids[i]), k=k, issued_ms=self.issued_ms,
            last_valid_ms=self.last_valid_ms, level=int(self.level[i]),
            level_low=int(self.level_low[i]), now=float(self.now[i]),
            peak=float(self.peak[i]), peak_at_ms=int(self.peak_at_ms[i]),
            capacity=float(self.capacity[i]),
            onset_ms=_pair(self.onset_ms[i], int), onset_low_ms=_pair(self.onset_low_ms[i], int),
            over_now=_pair(self.over_now[i], bool),
            sure=None if self.sure is None else _pair(self.sure[i], bool),
            peak_p10=None if self.peak_p10 is None else float(self.peak_p10[i]),
            peak_p90=None if self.peak_p90 is None else float(self.peak_p90[i]),
            sat=self.sat[i], times=self.times)


def _pair(row: np.ndarray, kind: type) -> tuple[Any, Any]:
    return kind(row[0]), kind(row[1])


def saturation_readings(cycle: SaturationCycle, thresholds: np.ndarray,
                        hysteresis: float) -> SaturationReadings:
    """Saturation, peak, levels and threshold crossings of every spot in ``cycle``;
    ``thresholds`` is ``(K, 2)``: each spot's warning and critical saturation."""
    capacity = np.asarray(cycle.capacity, dtype=np.float64)
    divisor = np.where(capacity > 0, capacity, np.nan)[:, None]  # exact: 4000 / 5000 == 0.8
    times = np.concatenate([[cycle.issued_at_ms], np.asarray(cycle.valid_at_ms, np.int64)])
    now = np.asarray(cycle.visitors, dtype=np.float64) / divisor[:, 0]
    sat = np.column_stack([now, np.asarray(cycle.forecast_visitors, np.float64) / divisor])
    known = np.isfinite(sat).any(axis=1)
    at = np.where(np.isfinite(sat), sat, -np.inf).argmax(axis=1)
    rows = np.arange(len(sat))
    peak = np.where(known, sat[rows, at], np.nan)
    lowered = thresholds - hysteresis
    sure = p10 = p90 = None
    if cycle.forecast_p10 is not None:
        p10 = np.column_stack([now, np.asarray(cycle.forecast_p10, np.float64) / divisor])
        sure = (p10[:, :, None] >= thresholds[:, None, :]).any(axis=1)
    if cycle.forecast_p90 is not None:
        p90 = np.column_stack([now, np.asarray(cycle.forecast_p90, np.float64) / divisor])
    return SaturationReadings(
        spot_ids=np.asarray(cycle.spot_ids), issued_ms=int(cycle.issued_at_ms),
        last_valid_ms=int(times[-1]), times=times, sat=sat, known=known, now=now, peak=peak,
        peak_at_ms=times[at],
        peak_p10=None if p10 is None else p10[rows, at],
        peak_p90=None if p90 is None else p90[rows, at],
        level=_levels(peak, thresholds), level_low=_levels(peak, lowered), capacity=capacity,
        onset_ms=np.column_stack([crossing_times(sat, times, thresholds[:, c]) for c in (0, 1)]),
        onset_low_ms=np.column_stack([crossing_times(sat, times, lowered[:, c])
                                      for c in (0, 1)]),
        over_now=now[:, None] >= thresholds, sure=sure)


def _levels(peak: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """0 below the first threshold, 1 at or above it, 2 at or above the second; NaN is 0."""
    return (peak[:, None] >= thresholds).sum(axis=1).astype(np.int8)


def crossing_times(sat: np.ndarray, times: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """First time each row of ``sat`` (``(K, T)`` at ``times``) reaches ``threshold``
    (``(K,)``), interpolated linearly between the point before and the first point at or
    above, to the minute; the first time when already there, ``-1`` when never. NaN points
    never count as reached; a NaN just before the crossing gives the crossing point's time."""
    over = sat >= threshold[:, None]
    first = over.argmax(axis=1)
    rows = np.arange(len(sat))
    before = np.maximum(first - 1, 0)
    s0, s1 = sat[rows, before], sat[rows, first]
    t0, t1 = times[before].astype(np.float64), times[first].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where((first > 0) & np.isfinite(s0) & (s1 > s0),
                        (threshold - s0) / (s1 - s0), 1.0)
    at = t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0)
    at = np.where(first > 0, np.round(at / _MINUTE_MS) * _MINUTE_MS, times[first])
    return np.where(over.any(axis=1), at, -1).astype(np.int64)
