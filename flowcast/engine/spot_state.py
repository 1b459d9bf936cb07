"""One partition's scenic-spot state: open buckets (a pending buffer of readings), carried
visitors and the history ring, in thin Python around the Numba kernels of
:mod:`flowcast.kernels.spots` (no Python loop per reading)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from flowcast.city import City
from flowcast.engine.bucket_state import AddResult, BucketSpan, kernel_column, start_bucket
from flowcast.engine.local_index import LocalIndex, LocalizedState
from flowcast.ingest.readings import SpotBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import spots as ks
from flowcast.kernels.spot_close import spot_close
from flowcast.kernels.windows import SpotWindow


@dataclass
class ClosedSpotBuckets(BucketSpan):
    """Spot buckets just closed, oldest first; per-bucket arrays are ``(B, K)``: ``arrivals``
    and ``exits`` (people through the gates), ``visitors`` inside at the bucket's end and their
    ``peak`` within it (float32), ``count`` readings, ``flags`` (``spots.SPOT_*``)."""

    bucket_ms: int
    bucket_ids: np.ndarray
    arrivals: np.ndarray
    exits: np.ndarray
    visitors: np.ndarray
    peak: np.ndarray
    count: np.ndarray
    flags: np.ndarray


class SpotState(LocalizedState):
    """Open spot buckets (a pending buffer of readings), carried visitors and a history ring for
    ``n_spots`` spots opening ``opens_min`` minutes after local midnight, in a city
    ``utc_offset_min`` minutes ahead of UTC. Late readings (bucket closed) are counted and not
    applied."""

    id_column = "spot"

    def __init__(
        self,
        n_spots: int,
        bucket_s: int = 900,
        history_buckets: int = 768,
        open_slots: int = 4,
        *,
        opens_min: int | np.ndarray = 480,
        utc_offset_min: int = 480,
    ) -> None:
        if n_spots < 1 or bucket_s < 1 or open_slots < 1 or history_buckets < 1:
            raise ValueError("need n_spots, bucket_s, open_slots, history_buckets >= 1")
        self.n_spots = n_spots
        self.bucket_ms = bucket_s * 1000
        self.open_slots = open_slots
        self.opens_ms = np.array(np.broadcast_to(np.asarray(opens_min, np.int64) * 60_000,
                                                 (n_spots,)))
        self.utc_offset_ms = int(utc_offset_min) * 60_000
        self.pending = ks.new_pending(1024)
        self.n_pending = 0
        self.visitors = np.zeros(n_spots, np.float64)
        self.last_reset = np.full(n_spots, kh.NO_BUCKET, np.int64)
        self.history = ks.new_spot_history(n_spots, history_buckets)
        self.totals: dict[str, int] = dict.fromkeys(
            ("accepted", "late", "ahead", "invalid", "closed"), 0)
        self.closed_upto: int | None = None

    @classmethod
    def for_city(cls, city: City, spots: np.ndarray | None = None, **kwargs: object) -> SpotState:
        """A state for ``spots`` (global indices, default all) of ``city`` with their opening
        times and the city's current UTC offset (fixed: Chinese cities have no DST). Use
        :meth:`localize` on batches with global spot indices."""
        index = LocalIndex.of(city.n_spots, spots)
        state = cls(len(index), opens_min=city.spot_opens_min[index.held].astype(np.int64),
                    utc_offset_min=_utc_offset_min(city), **kwargs)  # type: ignore[arg-type]
        state.index = index
        return state

    @property
    def spots(self) -> np.ndarray | None:
        """The city's index of each spot held (int32, local order); None without a city."""
        return None if self.index is None else self.index.held

    def start(self, bucket: int) -> None:
        """Begin with ``bucket`` as the oldest open bucket (once, before any data)."""
        if self.closed_upto is not None:
            raise RuntimeError("the state has started already")
        self.closed_upto = int(bucket)
        self._mark_resets_before(self.closed_upto)

    def _mark_resets_before(self, bucket: int) -> None:
        # openings before the first bucket are history: visitors start at 0 without a reset
        t = bucket * self.bucket_ms - 1 + self.utc_offset_ms - self.opens_ms
        self.last_reset[:] = (t // ks.DAY_MS) * ks.DAY_MS + self.opens_ms - self.utc_offset_ms

    def _reserve(self, extra: int) -> None:
        need = self.n_pending + extra
        capacity = len(self.pending[0])
        if need <= capacity:
            return
        grown = ks.new_pending(max(need, 2 * capacity))
        for new, old in zip(grown, self.pending, strict=True):
            new[: self.n_pending] = old[: self.n_pending]
        self.pending = grown

    def add(self, batch: SpotBatch) -> AddResult:
        """Accept a batch into the open window (pending until its bucket closes); LATE readings
        are counted in ``too_old`` and dropped."""
        spot = kernel_column(batch.spot, np.int32)
        ts = kernel_column(batch.ts_ms, np.int64)
        status = np.empty(len(spot), np.int8)
        if self.closed_upto is None:
            valid = (spot >= 0) & (spot < self.n_spots)
            self.closed_upto = start_bucket(ts, valid, self.bucket_ms, self.open_slots)
            if self.closed_upto is None:
                status[:] = kb.INVALID
                self.totals["invalid"] += len(spot)
                return AddResult(status, invalid=len(spot))
            self._mark_resets_before(self.closed_upto)
        self._reserve(len(spot))
        self.n_pending, accepted, late, ahead, invalid = ks.spot_accept(
            spot, ts, kernel_column(batch.entries, np.float32),
            kernel_column(batch.exits, np.float32), kernel_column(batch.count, np.float32),
            self.bucket_ms, self.closed_upto, self.open_slots, self.n_spots, self.pending,
            self.n_pending, status)
        status[status == kb.LATE] = kb.TOO_OLD
        for key, n in (("accepted", accepted), ("late", late), ("ahead", ahead),
                       ("invalid", invalid)):
            self.totals[key] += n
        return AddResult(status, accepted=accepted, too_old=late, ahead=ahead, invalid=invalid)

    @property
    def ring_buckets(self) -> int:
        """How many closed buckets the history ring holds."""
        return int(self.history[6].shape[0])

    def close(self, up_to_bucket: int) -> ClosedSpotBuckets:
        """Close every spot bucket with id < ``up_to_bucket`` for all spots."""
        if self.closed_upto is None or up_to_bucket <= self.closed_upto:
            return self._closed(np.empty(0, np.int64))
        n_cols = self.history[6].shape[0]
        ids = np.empty(min(up_to_bucket - self.closed_upto, n_cols), np.int64)
        k, self.n_pending = spot_close(
            self.closed_upto, int(up_to_bucket), self.bucket_ms, self.opens_ms,
            self.utc_offset_ms, self.pending, self.n_pending, self.visitors, self.last_reset,
            self.history, ids)
        self.closed_upto = int(up_to_bucket)
        self.totals["closed"] += k
        return self._closed(ids[:k])

    def close_until(self, watermark_ms: int | None) -> ClosedSpotBuckets:
        """Close every spot bucket that ends at or before ``watermark_ms``."""
        if watermark_ms is None:
            return self._closed(np.empty(0, np.int64))
        return self.close(int(watermark_ms) // self.bucket_ms)

    def _closed(self, ids: np.ndarray) -> ClosedSpotBuckets:
        cols = ids % self.history[6].shape[0]
        arrivals, exits, visitors, peak, count, flags, _ = self.history
        return ClosedSpotBuckets(self.bucket_ms, ids, arrivals[cols], exits[cols], visitors[cols],
                                 peak[cols], count[cols], flags[cols])

    def window(self, end_bucket: int, length: int) -> SpotWindow:
        """Spot history buckets ``end_bucket - length .. end_bucket - 1`` (end exclusive)."""
        vals = np.empty((4, self.n_spots, length), np.float32)
        count = np.empty((self.n_spots, length), np.uint16)
        flags = np.empty((self.n_spots, length), np.uint8)
        ks.spot_read_window(self.history, end_bucket, vals, count, flags)
        return SpotWindow(end_bucket - length, vals[0], vals[1], vals[2], vals[3], count, flags)


def _utc_offset_min(city: City) -> int:
    offset = dt.datetime.now(city.zone).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60)
