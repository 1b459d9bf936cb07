"""Scenic-spot visitors: arrivals through the gates, a dwell time, departures before closing.

For spot ``k`` on a local day, the expected number of arrivals is::

    A_k = level(day) x popularity_k x capacity_instant_k / f_peak_k x tourism_scale x noise

where ``level`` is the expected peak saturation of the most popular spot (0.35 on a workday,
0.6 on a weekend, 0.8 on a holiday, up to 1.25 in National Day / Spring Festival golden
weeks), ``popularity`` is 1 for the spot with the largest daily capacity and 0.65-0.95 for the
others, and ``f_peak`` is the largest fraction of a day's arrivals inside at once (from the
arrival shape and the dwell time), so that ``level`` is the expected peak of
``visitors / capacity_instant``. Arrivals per gate interval are Poisson around ``A_k`` times
the arrival shape (a 09:30-11:30 surge), modulated by smooth hourly noise; no entry in the last
hour. Each arrival draws a log-normal dwell time (median 2-3.5 h per spot, sigma 0.45);
stays that would run past closing end uniformly in the last hour, so nobody is inside after
closing and every day starts empty.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from flowcast.city import City
from flowcast.ingest.simulator.demand import day_context, spot_arrival_shape
from flowcast.ingest.simulator.noise import SPOT_DAILY, SPOT_HOURLY, STATIC, SmoothNoise, rng_for

DWELL_SIGMA = 0.45
SWEEP_MIN = 60.0
"""Last entry is this many minutes before closing; overlong stays end within this window."""


@dataclass
class SpotTruth:
    """What really happened at every spot in the last gate interval (float64 ``(K,)``):
    ``arrivals`` new visitors, ``exits`` visitors leaving, ``inside`` people inside at
    ``ts_ms`` (the interval's end, epoch ms UTC)."""

    ts_ms: int
    arrivals: np.ndarray
    exits: np.ndarray
    inside: np.ndarray


class SpotModel:
    """Visitors of every spot of a city, advanced one gate interval at a time."""

    def __init__(self, city: City, interval_s: int, seed: int, tourism_scale: float) -> None:
        self.k = city.n_spots
        self.seed = seed
        self.slot_min = interval_s / 60.0
        self.n_slots = round(1440 / self.slot_min)
        self.capacity = city.spot_capacity_instant
        self.tourism_scale = tourism_scale
        self.opens = city.spot_opens_min.astype(np.float64)
        self.closes = city.spot_closes_min.astype(np.float64)
        self.close_slot = np.floor(self.closes / self.slot_min).astype(np.int64)
        rng = rng_for(seed, STATIC, 2)
        self.popularity = rng.uniform(0.65, 0.95, self.k)
        if self.k:
            self.popularity[np.argmax(city.spot_capacity_daily)] = 1.0
        self.dwell_pmf = self._dwell_pmf(rng.uniform(2.0, 3.5, self.k))
        mid = (np.arange(self.n_slots) + 0.5) * self.slot_min
        last_entry = np.maximum(self.opens + self.slot_min, self.closes - SWEEP_MIN)
        shape = spot_arrival_shape(mid[None, :], self.opens[:, None], last_entry[:, None])
        self.share = shape / np.maximum(shape.sum(axis=1, keepdims=True), 1e-12)
        self.expected_exit = self._expected_exits()
        inside = np.cumsum(self.share - self.expected_exit, axis=1)
        self.f_peak = np.maximum(inside.max(axis=1, initial=0.0), 1e-6)
        self.hourly = SmoothNoise(seed, SPOT_HOURLY, self.k, 3600, 0.07)
        self.departures = np.zeros((self.k, self.n_slots))
        self.inside = np.zeros(self.k)
        self.date: dt.date | None = None
        self._arrivals: dict[dt.date, np.ndarray] = {}

    def _dwell_pmf(self, median_h: np.ndarray) -> np.ndarray:
        """P(stay lasts d slots), d = 0..n_slots, float64 ``(K, n_slots + 1)``; d = 0 never."""
        edges = np.arange(self.n_slots + 1) * self.slot_min / 60.0
        with np.errstate(divide="ignore"):
            z = (np.log(edges)[None, :] - np.log(median_h)[:, None]) / DWELL_SIGMA
        cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)).astype(np.float64))
        pmf = np.zeros_like(cdf)
        pmf[:, 1:] = np.diff(cdf, axis=1)
        return pmf

    def leave_probs(self, slot: int) -> np.ndarray:
        """For a visitor arriving in ``slot``: probability of leaving in each later slot of the
        day, float64 ``(K, n_slots)``; rows sum to 1 (stays past closing end in the last hour)."""
        probs = np.zeros((self.k, self.n_slots))
        later = self.n_slots - slot - 1
        probs[:, slot + 1:] = self.dwell_pmf[:, 1:later + 1]
        s = np.arange(self.n_slots)[None, :]
        close = self.close_slot[:, None]
        sweep_from = np.maximum(slot + 1, close - round(SWEEP_MIN / self.slot_min))
        window = (s >= sweep_from) & (s < close)
        inside_hours = np.where(s < close, probs, 0.0)
        tail = 1.0 - inside_hours.sum(axis=1, keepdims=True)
        width = window.sum(axis=1, keepdims=True)
        probs = inside_hours + np.where(width > 0, tail * window / np.maximum(width, 1), 0.0)
        # a spot already closed: anyone (there should be nobody) leaves at once
        probs[width[:, 0] == 0, min(slot + 1, self.n_slots - 1)] = 1.0
        return probs / probs.sum(axis=1, keepdims=True)

    def _expected_exits(self) -> np.ndarray:
        """Expected departures per slot for one expected arrival per day, ``(K, n_slots)``."""
        out = np.zeros((self.k, self.n_slots))
        for slot in np.flatnonzero(self.share.sum(axis=0) > 0):
            out += self.share[:, slot:slot + 1] * self.leave_probs(int(slot))
        return out

    def daily_arrivals(self, date: dt.date) -> np.ndarray:
        """Expected arrivals of every spot on a local date, float64 ``(K,)``."""
        expected = self._arrivals.get(date)
        if expected is None:
            if len(self._arrivals) > 16:
                self._arrivals.clear()
            rng = rng_for(self.seed, SPOT_DAILY, date.toordinal())
            level = day_context(date).spot_level
            expected = (level * self.popularity * self.capacity / self.f_peak
                        * self.tourism_scale * np.exp(rng.normal(0.0, 0.06, self.k)))
            self._arrivals[date] = expected
        return expected

    def expected_rate_vph(self, date: dt.date, minute: float) -> np.ndarray:
        """Expected visitors per hour entering plus leaving every spot at a local minute of
        ``date`` (drives tourist road traffic), float64 ``(K,)``."""
        slot = min(int(minute // self.slot_min), self.n_slots - 1)
        per_slot = self.share[:, slot] + self.expected_exit[:, slot]
        return self.daily_arrivals(date) * per_slot * 60.0 / self.slot_min

    def step(self, date: dt.date, slot: int, end_ms: int, rng: np.random.Generator) -> SpotTruth:
        """Advance the gate interval ``slot`` of local ``date`` (ending at ``end_ms``)."""
        if date != self.date:
            self.date = date
            self.departures[:] = 0.0
            self.inside[:] = 0.0
        rate = self.daily_arrivals(date) * self.share[:, slot] * self.hourly.at(end_ms)
        arrivals = rng.poisson(rate).astype(np.float64)
        exits = self.departures[:, slot].copy()
        self.departures[:, slot] = 0.0
        if arrivals.any():
            leave = rng.multinomial(arrivals.astype(np.int64), self.leave_probs(slot))
            self.departures += leave
        self.inside += arrivals - exits
        return SpotTruth(end_ms, arrivals, exits, self.inside.copy())


_erf = np.frompyfunc(math.erf, 1, 1)
