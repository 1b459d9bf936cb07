"""Live feature rows: one row per sensor at the newest bucket of the engine's history ring.

The engine reads only the buckets a row needs (:func:`live_spans`: the recent span and the
seasonal buckets) as ring windows (:class:`flowcast.kernels.windows.Window`), joins them into
a sparse :class:`~flowcast.models.roads.feature_history.FeatureHistory`
(:func:`live_history`), and builds the rows with the same kernel call as training
(:func:`live_matrix`); the parity tests hold a live row equal to the offline row of the same
history.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcast.city import Csr
from flowcast.kernels.windows import Window
from flowcast.models.calendar import DEFAULT_TIMEZONE
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec, seasonal_offsets
from flowcast.models.roads.matrices import build_rows


def live_matrix(window: Window | FeatureHistory, first_bucket: int | None,
                spec: FeatureSpec, static: np.ndarray | None = None, graph: Csr | None = None,
                *, timezone: str = DEFAULT_TIMEZONE, upstream: Csr | None = None,
                downstream: Csr | None = None) -> np.ndarray:
    """``X (N, F)``: one row per sensor at the last bucket of a ``RoadState.window`` (its
    first bucket ``first_bucket``, default the window's own; ``static`` ``(N, 4)`` from
    :func:`~flowcast.models.roads.static_attributes.static_table`; ``graph`` the state's
    sensor CSR, ``upstream`` / ``downstream`` the directed ones in the same local order,
    :meth:`flowcast.city.City.sensor_graphs`), or at the last column of a
    :class:`FeatureHistory` (e.g. from :func:`live_history`; it carries its own static table,
    graphs and time zone, and the arguments are then ignored). For the seasonal columns the
    window must reach ``spec.lookback`` buckets back."""
    history = (window if isinstance(window, FeatureHistory) else
               FeatureHistory.from_window(window, first_bucket, bucket_s=spec.bucket_s,
                                          timezone=timezone, static=static, graph=graph,
                                          upstream=upstream, downstream=downstream))
    if history.n_buckets == 0:
        raise ValueError("the window holds no bucket")
    last = history.n_buckets - 1
    sensor = np.arange(history.n_sensors, dtype=np.int32)
    column = np.full(history.n_sensors, last, np.int32)
    lut = None if history.contiguous else _lut(history.buckets, spec.lookback)
    return build_rows(history, spec, sensor, column, lut)


def _lut(buckets: np.ndarray, length: int) -> np.ndarray:
    """Offset -> column table for an anchor at the last bucket (-1: not held)."""
    wanted = buckets[-1] - np.arange(length, dtype=np.int64)
    pos = np.searchsorted(buckets, wanted)
    pos = np.minimum(pos, len(buckets) - 1)
    return np.where(buckets[pos] == wanted, pos, -1).astype(np.int32)


def live_spans(spec: FeatureSpec, merge_gap: int = 8) -> list[tuple[int, int]]:
    """The runs of offsets a live row reads, as ``(oldest offset, length)``, oldest first:
    the recent span and the seasonal buckets (runs closer than ``merge_gap`` merged)."""
    offsets = sorted({*range(spec.min_history), *seasonal_offsets(spec)}, reverse=True)
    spans: list[list[int]] = []
    for off in offsets:
        if spans and spans[-1][0] - spans[-1][1] + 1 - off <= merge_gap:
            spans[-1][1] = spans[-1][0] - off + 1
        else:
            spans.append([off, 1])
    return [(a, b) for a, b in spans]


def live_history(read: Callable[[int, int], Window], anchor_bucket: int,
                 spec: FeatureSpec, *, timezone: str = DEFAULT_TIMEZONE,
                 static: np.ndarray | None = None, graph: Csr | None = None,
                 upstream: Csr | None = None, downstream: Csr | None = None) -> FeatureHistory:
    """Only the buckets a live row needs, read with ``read(end_bucket, length)`` (e.g.
    ``RoadState.window``, end exclusive) as a sparse :class:`FeatureHistory` whose last column
    is ``anchor_bucket``; :func:`live_matrix` of it equals that of the full window. The
    graphs are as :func:`live_matrix` takes them."""
    windows = [read(anchor_bucket - off + length, length) for off, length in live_spans(spec)]
    return FeatureHistory.from_windows(windows, bucket_s=spec.bucket_s, timezone=timezone,
                                       static=static, graph=graph, upstream=upstream,
                                       downstream=downstream)
