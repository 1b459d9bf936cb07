"""The history arrays the road feature kernel reads, and where they come from.

A :class:`FeatureHistory` holds ``N`` sensors by ``T`` buckets of a road dataset
(:meth:`~FeatureHistory.from_dataset`), of a history ring's export
(:meth:`~FeatureHistory.from_export`), or of the engine's ring windows
(:meth:`~FeatureHistory.from_window`, :meth:`~FeatureHistory.from_windows`; a
:class:`flowcast.kernels.windows.Window` each). A bucket is ``bucket_s`` seconds; bucket id ``b``
starts at epoch second ``b * bucket_s + offset_s`` (``offset_s`` is 0 for epoch-aligned
buckets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from flowcast.city import City, Csr
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.windows import Window
from flowcast.models.calendar import DEFAULT_TIMEZONE
from flowcast.models.roads.feature_spec import STATIC_NAMES, VARIABLES
from flowcast.models.roads.static_attributes import static_from_dataset

if TYPE_CHECKING:
    import xarray as xr


@dataclass
class FeatureHistory:
    """History arrays the feature kernel reads, for ``N`` sensors and ``T`` buckets.

    ``values``: per variable (``speed``, ``flow``, ``occupancy``; any subset) ``(N, T)``
    float32, NaN = missing. ``flags``: ``(N, T)`` uint8 quality bits. ``imputed``: ``(N, T)``
    uint8 packed imputation codes (2 bits per variable, ``flowcast.kernels.history``).
    ``buckets``: ``(T,)`` int64 strictly increasing bucket ids (contiguous except for the live
    engine's sparse reads). ``static``: ``(N, 4)`` float32 (:data:`STATIC_NAMES`, NaN =
    unknown) or None. ``graph``: sensor -> sensor CSR over the same ``N`` sensors, or None.
    ``upstream`` / ``downstream``: the directed sensor graphs (row ``s``: the sensors upstream /
    downstream of ``s``, ``flowcast.city.City.sensor_upstream``), or None: a spec with
    directed neighbour features needs them.
    ``measured``: per variable ``(N, T)`` float32 the values as measured (NaN = none), when
    ``values`` are not the measurements themselves (a history cleaned by the engine's quality
    rules, :mod:`flowcast.models.roads.quality_history`); targets take their values from it where
    the imputed code is raw. None: ``values`` are the measurements where the code is raw.
    """

    values: dict[str, np.ndarray]
    flags: np.ndarray
    imputed: np.ndarray
    buckets: np.ndarray
    bucket_s: int
    timezone: str = DEFAULT_TIMEZONE
    static: np.ndarray | None = None
    graph: Csr | None = None
    offset_s: int = 0
    sensor_ids: np.ndarray | None = field(default=None, repr=False)
    measured: dict[str, np.ndarray] | None = field(default=None, repr=False)
    upstream: Csr | None = field(default=None, repr=False)
    downstream: Csr | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n, t = self.flags.shape
        for name, x in self.values.items():
            if name not in VARIABLES or x.shape != (n, t):
                raise ValueError(f"history variable {name!r} has shape {x.shape}, "
                                 f"expected one of {VARIABLES} with {(n, t)}")
        if self.imputed.shape != (n, t) or self.buckets.shape != (t,):
            raise ValueError("history flags, imputed and buckets disagree in shape")
        if t > 1 and np.any(np.diff(self.buckets) <= 0):
            raise ValueError("history bucket ids must be strictly increasing")
        if self.static is not None and self.static.shape != (n, len(STATIC_NAMES)):
            raise ValueError(f"static must be (N, {len(STATIC_NAMES)}), got {self.static.shape}")
        for name in ("graph", "upstream", "downstream"):
            graph = getattr(self, name)
            if graph is not None and graph.n_rows != n:
                raise ValueError(f"{name} graph has {graph.n_rows} rows for {n} sensors")
        for name, x in (self.measured or {}).items():
            if name not in VARIABLES or x.shape != (n, t):
                raise ValueError(f"measured variable {name!r} has shape {x.shape}, "
                                 f"expected one of {VARIABLES} with {(n, t)}")

    def measured_values(self, name: str) -> np.ndarray:
        """``(N, T)`` float32 the measurements of variable ``name`` (NaN = none): the
        ``measured`` series when the history carries one, else ``values[name]``."""
        if self.measured is not None and name in self.measured:
            return self.measured[name]
        return self.values[name]

    def graph_for(self, direction: str) -> Csr | None:
        """The sensor graph of a neighbour direction
        (:data:`~flowcast.models.roads.feature_spec.NEIGHBOUR_DIRECTIONS`)."""
        return {"all": self.graph, "up": self.upstream, "down": self.downstream}[direction]

    @property
    def directed(self) -> bool:
        """Whether the history carries the upstream and downstream graphs."""
        return self.upstream is not None and self.downstream is not None

    @property
    def n_sensors(self) -> int:
        """``N``."""
        return self.flags.shape[0]

    @property
    def n_buckets(self) -> int:
        """``T``."""
        return self.flags.shape[1]

    @property
    def contiguous(self) -> bool:
        """Whether the buckets are consecutive ids (column ``c`` = ``buckets[0] + c``)."""
        t = self.n_buckets
        return t == 0 or int(self.buckets[-1] - self.buckets[0]) == t - 1

    # ----- constructors ------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds: xr.Dataset, city: City | None = None) -> FeatureHistory:
        """The road series of a dataset (``flowcast.formats.dataset``'s ``roads.nc``).

        Values are NaN where there is no data; flags are ``NO_DATA`` where every variable is
        NaN and 0 elsewhere; imputed codes are 0 (raw). Gaps in the time axis are filled with
        missing buckets. Static attributes come from the dataset's coordinates, else from
        ``city`` (matched by sensor id), else NaN; the graph likewise. The upstream and
        downstream graphs come from ``city`` (None without one).
        """
        bucket_s = int(ds.attrs["interval_s"])
        names = [v for v in VARIABLES if v in ds.data_vars]
        if not names:
            raise ValueError(f"the dataset holds none of the road variables {VARIABLES}")
        start_s = np.asarray(ds["time"].values).astype("datetime64[s]").astype(np.int64)
        ids = np.asarray(ds["sensor"].values).astype(str)
        values = {v: np.asarray(ds[v].values, np.float32) for v in names}
        missing = np.logical_and.reduce([np.isnan(x) for x in values.values()])
        flags = np.where(missing, kq.NO_DATA, 0).astype(np.uint8)
        timezone = str(ds.attrs.get("timezone") or (city.timezone if city else DEFAULT_TIMEZONE))
        static = static_from_dataset(ds, ids, city)
        graph = _graph_from_dataset(ds, ids, city)
        history = _regular(values, flags, np.zeros_like(flags), start_s, bucket_s, timezone,
                           static, graph, ids)
        if city is None:
            return history
        _, upstream, downstream = city.sensor_graphs(city.sensor_index(ids))
        return replace(history, upstream=upstream, downstream=downstream)

    @classmethod
    def from_window(cls, window: Window, first_bucket: int | None = None, *,
                    bucket_s: int = 300, timezone: str = DEFAULT_TIMEZONE,
                    static: np.ndarray | None = None, graph: Csr | None = None,
                    upstream: Csr | None = None,
                    downstream: Csr | None = None) -> FeatureHistory:
        """The buckets of one ``RoadState.window`` (``first_bucket`` defaults to the window's
        own), no copy of its arrays."""
        return cls.from_windows([window], [first_bucket], bucket_s=bucket_s,
                                timezone=timezone, static=static, graph=graph,
                                upstream=upstream, downstream=downstream)

    @classmethod
    def from_windows(cls, windows: Sequence[Window],
                     first_buckets: Sequence[int | None] | None = None, *,
                     bucket_s: int = 300, timezone: str = DEFAULT_TIMEZONE,
                     static: np.ndarray | None = None, graph: Csr | None = None,
                     upstream: Csr | None = None,
                     downstream: Csr | None = None) -> FeatureHistory:
        """Several windows of the same sensors, oldest first and not overlapping, side by side
        (the live engine's sparse reads, see
        :func:`~flowcast.models.roads.live_features.live_history`)."""
        firsts = list(first_buckets or [None] * len(windows))
        buckets = np.concatenate([
            (w.first_bucket if f is None else int(f)) + np.arange(w.flags.shape[1], dtype=np.int64)
            for w, f in zip(windows, firsts, strict=True)])

        def cat(name: str) -> np.ndarray:
            parts = [getattr(w, name) for w in windows]
            return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

        values = {v: cat(v) for v in VARIABLES}
        return cls(values, cat("flags"), cat("imputed"), buckets, bucket_s, timezone,
                   _static_or_none(static), graph, upstream=upstream, downstream=downstream)

    @classmethod
    def from_export(cls, data: dict[str, np.ndarray], *, bucket_s: int = 300,
                    timezone: str = DEFAULT_TIMEZONE, static: np.ndarray | None = None,
                    graph: Csr | None = None, upstream: Csr | None = None,
                    downstream: Csr | None = None) -> FeatureHistory:
        """The buckets a history ring holds, from ``History.export()``'s ``(H, N)`` arrays
        (``col_bucket`` says which bucket each column holds), in time order; buckets the ring
        lacks inside its span read as missing with ``NO_DATA``."""
        held = np.flatnonzero(data["col_bucket"] != kh.NO_BUCKET)
        held = held[np.argsort(data["col_bucket"][held], kind="stable")]
        values = {v: np.ascontiguousarray(data[v][held].T, np.float32) for v in VARIABLES}
        flags = np.ascontiguousarray(data["flags"][held].T)
        imputed = np.ascontiguousarray(data["imputed"][held].T)
        start_s = data["col_bucket"][held].astype(np.int64) * bucket_s
        history = _regular(values, flags, imputed, start_s, bucket_s, timezone,
                           _static_or_none(static), graph, None)
        return replace(history, upstream=upstream, downstream=downstream)


def _static_or_none(static: np.ndarray | None) -> np.ndarray | None:
    return None if static is None else np.asarray(static, np.float32)


def _regular(values: dict[str, np.ndarray], flags: np.ndarray, imputed: np.ndarray,
             start_s: np.ndarray, bucket_s: int, timezone: str, static: np.ndarray | None,
             graph: Csr | None, ids: np.ndarray | None) -> FeatureHistory:
    """A contiguous history from columns starting at epoch seconds ``start_s`` (increasing):
    missing buckets become NaN with ``NO_DATA``."""
    if len(start_s) == 0:
        empty = np.empty(0, np.int64)
        return FeatureHistory(values, flags, imputed, empty, bucket_s, timezone, static, graph,
                              0, ids)
    offset = int(start_s[0] % bucket_s)
    if np.any((start_s - offset) % bucket_s):
        raise ValueError(f"the time axis is not on a regular {bucket_s} s grid")
    ids_b = (start_s - offset) // bucket_s
    buckets = np.arange(ids_b[0], ids_b[-1] + 1, dtype=np.int64)
    if len(buckets) != len(ids_b):
        cols = (ids_b - ids_b[0]).astype(np.intp)
        values = {k: _scatter(x, cols, len(buckets), np.nan) for k, x in values.items()}
        flags = _scatter(flags, cols, len(buckets), kq.NO_DATA)
        imputed = _scatter(imputed, cols, len(buckets), 0)
    return FeatureHistory(values, flags, imputed, buckets, bucket_s, timezone, static, graph,
                          offset, ids)


def _scatter(x: np.ndarray, cols: np.ndarray, width: int, fill: float) -> np.ndarray:
    out = np.full((x.shape[0], width), fill, x.dtype)
    out[:, cols] = x
    return out


def _graph_from_dataset(ds: xr.Dataset, ids: np.ndarray, city: City | None) -> Csr | None:
    if "graph_indptr" in ds:
        return Csr(np.asarray(ds["graph_indptr"].values, np.int64),
                   np.asarray(ds["graph_indices"].values, np.int32))
    if city is None:
        return None
    return city.sensor_graphs(city.sensor_index(ids))[0]
