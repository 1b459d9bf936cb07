"""Feature spec and the builders of the training matrix and the live matrix.

Both builders end in one call of the Numba kernel :func:`flowcast.kernels.features.
build_features`; they differ only in where the history arrays come from (an on-disk dataset, a
ring export, or the engine's ``RoadState.window``) and in which anchors they ask for. The feature
list, definitions, units and NaN rules are in ``docs/features.md``.

Conventions: a *bucket* is ``bucket_s`` seconds, bucket id ``b`` starts at epoch second ``b *
bucket_s + offset_s`` (``offset_s`` is 0 for epoch-aligned buckets). An *anchor* is a (sensor,
column) whose column is the last observed bucket ``t``; ``lag k`` is the target at ``t - k + 1``
(lag 1 = the anchor bucket itself) and horizon ``h`` targets bucket ``t + h``.

This module must not import ``flowcast.ingest`` (nor, through it, ``flowcast.engine.state``):
windows are taken by their attributes (:class:`WindowLike`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from numbers import Integral
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowcast import daytypes
from flowcast.city import ROAD_CLASSES, City, Csr
from flowcast.kernels import features as kf
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq

if TYPE_CHECKING:
    import xarray as xr

SPEC_KIND = "flowcast.features"
SPEC_VERSION = 2
DAY_S = 86_400
DEFAULT_TIMEZONE = "Asia/Shanghai"

VARIABLES: tuple[str, ...] = ("speed", "flow", "occupancy")
"""Road variables a spec may use (target or covariate)."""
VAR_CODE: dict[str, int] = {"flow": kh.FLOW, "occupancy": kh.OCC, "speed": kh.SPEED}
"""Index of each variable's 2-bit code in the packed ``imputed`` byte."""

STATIC_NAMES: tuple[str, ...] = ("road_class", "lanes", "free_flow_kmh", "length_m")
"""Static attributes, the columns of every static table ``(N, 4)``: road-class code (index into
``flowcast.city.ROAD_CLASSES``), lanes, free-flow speed (km/h), segment length (m)."""

FLAG_BITS: dict[str, int] = {
    "no_data": kq.NO_DATA,
    "few_samples": kq.FEW_SAMPLES,
    "zero_flow_with_occupancy": kq.ZERO_FLOW_WITH_OCCUPANCY,
    "stuck": kq.STUCK,
    "high_occupancy": kq.HIGH_OCCUPANCY,
    "flow_occ_inconsistent": kq.FLOW_OCC_INCONSISTENT,
    "imputed": kq.IMPUTED,
    "corrected": kq.CORRECTED,
}
"""Quality flags a spec may turn into 0/1 columns (bits of ``flowcast.kernels.quality``)."""

TIME_NAMES: tuple[str, ...] = ("tod_sin", "tod_cos", "tod_bucket", "dow", "daytype")
HOLIDAY_NAMES: tuple[str, ...] = ("days_to_holiday", "days_from_holiday")
CALENDAR_NAMES: tuple[str, ...] = TIME_NAMES + HOLIDAY_NAMES
"""Columns of :func:`calendar_table`."""
CATEGORICAL: frozenset[str] = frozenset({"dow", "daytype", "road_class"})
NEIGHBOUR_DIRECTIONS: tuple[str, ...] = ("all", "up", "down")
"""Sensor graphs a spec's neighbour features may read: ``all`` the undirected graph
(:attr:`FeatureHistory.graph`), ``up`` the sensors upstream (the traffic arriving), ``down``
those downstream (the queue ahead), :attr:`FeatureHistory.upstream` / ``downstream``."""
DIRECTED: tuple[str, ...] = ("up", "down")


# ======================================================================================
# The spec
# ======================================================================================


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a model reads; JSON round trip with :meth:`to_dict` / :meth:`from_dict`.

    Every count is in buckets of ``bucket_s`` seconds. ``lags``: the target ``k - 1`` buckets
    before the anchor (lag 1 = the anchor bucket). ``windows``: rolling mean / std / min over
    the last ``w`` buckets. ``seasonal`` periods ``P`` (a day, a week) and ``seasonal_ahead``
    offsets ``a``: the target at ``t - P + a`` (``a = 0``: the same bucket one period ago; ``a =
    h``: one period before the target time of horizon ``h``). ``covariates``: ``(variable,
    lag)`` pairs of the other variables. ``static``: names from :data:`STATIC_NAMES`.
    ``neighbour_lags``: mean of the neighbours' target at those lags (and, with
    ``neighbour_diff``, that mean minus the sensor's own), over each sensor graph of
    ``neighbour_directions`` (:data:`NEIGHBOUR_DIRECTIONS`: ``all`` undirected, ``up`` /
    ``down`` directed). ``flags``: names from
    :data:`FLAG_BITS`, read at the anchor bucket. ``imputed_window``: the share of the last
    ``W`` buckets whose target is missing or imputed (0: no such column).
    """

    target: str = "speed"
    bucket_s: int = 300
    lags: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    windows: tuple[int, ...] = (3, 6, 12)
    seasonal: tuple[int, ...] = (288, 2016)
    seasonal_ahead: tuple[int, ...] = (0,)
    covariates: tuple[tuple[str, int], ...] = ()
    time_features: bool = True
    holiday_distance: bool = False
    holiday_cap_days: int = 30
    static: tuple[str, ...] = STATIC_NAMES
    neighbour_lags: tuple[int, ...] = (1, 2)
    neighbour_diff: bool = True
    neighbour_directions: tuple[str, ...] = ("all",)
    flags: tuple[str, ...] = ("no_data", "few_samples", "stuck", "high_occupancy", "imputed")
    imputed_window: int = 12

    def __post_init__(self) -> None:
        for name in ("lags", "windows", "seasonal", "seasonal_ahead", "neighbour_lags"):
            values = getattr(self, name)
            if all(isinstance(v, Integral) for v in values):
                object.__setattr__(self, name, tuple(int(v) for v in values))
        object.__setattr__(self, "covariates",
                           tuple((str(v), int(k)) if isinstance(k, Integral) else (v, k)
                                 for v, k in self.covariates))
        for name in ("static", "flags", "neighbour_directions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _validate(self)

    @classmethod
    def for_bucket(cls, bucket_s: int, target: str = "speed", horizons: Sequence[int] = (),
                   *, directed: bool = False) -> FeatureSpec:
        """A sensible spec for ``bucket_s`` buckets: lags 1..6, rolling windows of about 15,
        30, 60 and 180 minutes, same time yesterday and last week (when a day is a whole number
        of buckets) also at each horizon ``h`` (buckets) ahead, the other two variables at lag
        1, holiday distances on; neighbour features over the upstream and downstream graphs
        when ``directed`` (the history must carry them: a city), else the undirected one."""
        minutes = bucket_s / 60
        windows = tuple(sorted({max(2, round(m / minutes)) for m in (15, 30, 60, 180)}))
        per_day = DAY_S // bucket_s if DAY_S % bucket_s == 0 else 0
        seasonal = (per_day, 7 * per_day) if per_day > 1 else ()
        ahead = tuple(sorted({0, *(int(h) for h in horizons if 0 < h < per_day)}))
        covariates = tuple((v, 1) for v in VARIABLES if v != target)
        return cls(target=target, bucket_s=bucket_s, windows=windows, seasonal=seasonal,
                   seasonal_ahead=ahead if seasonal else (0,), covariates=covariates,
                   holiday_distance=True,
                   neighbour_directions=DIRECTED if directed else ("all",))

    @property
    def names(self) -> list[str]:
        """Feature names in column order (:func:`feature_names`)."""
        return feature_names(self)

    @property
    def n_features(self) -> int:
        """Number of columns ``F``."""
        return len(self.names)

    @property
    def directed(self) -> bool:
        """Whether the neighbour features read a directed (upstream / downstream) graph."""
        return bool(self.neighbour_lags) and any(d in DIRECTED
                                                 for d in self.neighbour_directions)

    @property
    def min_history(self) -> int:
        """Buckets ending at the anchor that a complete row needs (all but seasonal)."""
        spans = (*self.lags, *self.windows, *(k for _, k in self.covariates),
                 *self.neighbour_lags, self.imputed_window, 1)
        return max(spans)

    @property
    def lookback(self) -> int:
        """Buckets ending at the anchor that every feature reads, seasonal ones included:
        the window length the live engine asks its history for."""
        return max(self.min_history, *(o + 1 for o in seasonal_offsets(self)), 1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists for tuples) with ``kind`` and ``version``."""
        out: dict[str, Any] = {"kind": SPEC_KIND, "version": SPEC_VERSION}
        for key, value in asdict(self).items():
            out[key] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """The spec of :meth:`to_dict`'s output; refuses another kind, a newer version or an
        unknown key with a ``ValueError`` naming it. Missing keys take their defaults (so a
        version 1 spec, which predates ``neighbour_directions``, reads the undirected graph
        only, as it did)."""
        data = dict(data)
        kind = data.pop("kind", SPEC_KIND)
        version = data.pop("version", SPEC_VERSION)
        if kind != SPEC_KIND or not isinstance(version, int) or version > SPEC_VERSION:
            raise ValueError(f"not a flowcast feature spec of version <= {SPEC_VERSION}: "
                             f"kind {kind!r}, version {version!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown feature spec key {unknown[0]!r}")
        kwargs = {k: _from_json(k, v) for k, v in data.items()}
        return cls(**kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _from_json(key: str, value: Any) -> Any:
    if key == "covariates":
        return tuple((str(v), int(k)) for v, k in value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _validate(spec: FeatureSpec) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"feature spec: {message}")

    need(spec.target in VARIABLES, f"target must be one of {VARIABLES}, got {spec.target!r}")
    need(spec.bucket_s >= 1, f"bucket_s must be >= 1, got {spec.bucket_s}")
    for name in ("lags", "windows", "seasonal", "neighbour_lags"):
        values = getattr(spec, name)
        need(all(isinstance(v, int) and v >= 1 for v in values),
             f"{name} must be whole numbers of buckets >= 1, got {values}")
        need(len(set(values)) == len(values), f"{name} has duplicates: {values}")
    need(all(isinstance(a, int) and a >= 0 for a in spec.seasonal_ahead),
         f"seasonal_ahead must be whole numbers >= 0, got {spec.seasonal_ahead}")
    need(not spec.seasonal or max(spec.seasonal_ahead, default=0) < min(spec.seasonal),
         "seasonal_ahead must stay below the shortest seasonal period (no future values)")
    for var, lag in spec.covariates:
        need(var in VARIABLES and var != spec.target,
             f"covariate {var!r} must be a variable other than the target {spec.target!r}")
        need(isinstance(lag, int) and lag >= 1, f"covariate lag must be >= 1, got {lag}")
    need(set(spec.static) <= set(STATIC_NAMES), f"static must be among {STATIC_NAMES}")
    need(set(spec.flags) <= set(FLAG_BITS), f"flags must be among {tuple(FLAG_BITS)}")
    directions = spec.neighbour_directions
    need(set(directions) <= set(NEIGHBOUR_DIRECTIONS) and len(set(directions)) == len(directions),
         f"neighbour_directions must be distinct names among {NEIGHBOUR_DIRECTIONS}, "
         f"got {directions}")
    need(spec.imputed_window >= 0, "imputed_window must be >= 0")
    need(spec.holiday_cap_days >= 1, "holiday_cap_days must be >= 1")


def seasonal_offsets(spec: FeatureSpec) -> list[int]:
    """Offsets (buckets before the anchor) of the seasonal columns, in column order."""
    return [p - a for p in spec.seasonal for a in spec.seasonal_ahead]


def feature_names(spec: FeatureSpec) -> list[str]:
    """Column names of the feature matrix, in the kernel's fixed order."""
    y = spec.target
    names = [f"{y}_lag_{k}" for k in spec.lags]
    for w in spec.windows:
        names += [f"{y}_mean_{w}", f"{y}_std_{w}", f"{y}_min_{w}"]
    names += [f"{y}_seasonal_{p}_{a}" for p in spec.seasonal for a in spec.seasonal_ahead]
    names += [f"{v}_lag_{k}" for v, k in spec.covariates]
    if spec.time_features:
        names += list(TIME_NAMES)
    if spec.holiday_distance:
        names += list(HOLIDAY_NAMES)
    names += list(spec.static)
    for direction in spec.neighbour_directions if spec.neighbour_lags else ():
        nb = f"nb_{y}" if direction == "all" else f"nb_{y}_{direction}"
        names += [f"{nb}_mean_lag_{k}" for k in spec.neighbour_lags]
        if spec.neighbour_diff:
            names += [f"{nb}_diff_lag_{k}" for k in spec.neighbour_lags]
    names += [f"flag_{f}" for f in spec.flags]
    if spec.imputed_window:
        names.append(f"{y}_imputed_share_{spec.imputed_window}")
    return names


def categorical_features(spec: FeatureSpec) -> list[str]:
    """The columns that hold category codes (day of week, day type, road class): pass them to
    LightGBM as categorical."""
    return [n for n in feature_names(spec) if n in CATEGORICAL]


@dataclass(frozen=True)
class _Plan:
    """A spec as the kernel's int64 arrays."""

    lags: np.ndarray
    windows: np.ndarray
    seasonal: np.ndarray
    cov_vars: tuple[str, ...]
    cov_var: np.ndarray
    cov_lag: np.ndarray
    nb_lags: np.ndarray
    flag_masks: np.ndarray
    opts: np.ndarray
    static_cols: np.ndarray
    calendar_cols: np.ndarray


@lru_cache(maxsize=64)
def _plan(spec: FeatureSpec) -> _Plan:
    def arr(values: Sequence[int]) -> np.ndarray:
        return _ro(np.array(values, np.int64).reshape(-1), np.int64)

    cov_vars = tuple(dict.fromkeys(v for v, _ in spec.covariates))
    opts = np.zeros(kf.N_OPT, np.int64)
    opts[kf.OPT_IMP_SHIFT] = 2 * VAR_CODE[spec.target]
    opts[kf.OPT_IMP_WINDOW] = spec.imputed_window
    opts[kf.OPT_NB_DIFF] = int(spec.neighbour_diff)
    calendar = (TIME_NAMES if spec.time_features else ()) + (
        HOLIDAY_NAMES if spec.holiday_distance else ())
    return _Plan(
        lags=arr(spec.lags), windows=arr(spec.windows), seasonal=arr(seasonal_offsets(spec)),
        cov_vars=cov_vars, cov_var=arr([cov_vars.index(v) for v, _ in spec.covariates]),
        cov_lag=arr([k for _, k in spec.covariates]), nb_lags=arr(spec.neighbour_lags),
        flag_masks=arr([FLAG_BITS[f] for f in spec.flags]), opts=_ro(opts, np.int64),
        static_cols=np.array([STATIC_NAMES.index(n) for n in spec.static], np.int64),
        calendar_cols=np.array([CALENDAR_NAMES.index(n) for n in calendar], np.int64))


def _ro(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a C-contiguous read-only array of ``dtype``, so the kernel compiles once
    whatever the caller handed over (no copy when it already is one)."""
    out = np.ascontiguousarray(values, dtype).view()
    out.flags.writeable = False
    return out


# ======================================================================================
# History
# ======================================================================================


class WindowLike(Protocol):
    """What the builders read from ``flowcast.engine.state.Window``: ``(N, L)`` arrays."""

    first_bucket: int
    flow: np.ndarray
    occupancy: np.ndarray
    speed: np.ndarray
    flags: np.ndarray
    imputed: np.ndarray


@dataclass
class Anchors:
    """The rows of a feature matrix: ``sensor`` and ``column`` int32 ``(R,)`` into a
    :class:`FeatureHistory`, and ``bucket`` int64 ``(R,)``, the anchor's bucket id."""

    sensor: np.ndarray
    column: np.ndarray
    bucket: np.ndarray

    def __len__(self) -> int:
        return len(self.sensor)


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
        """The sensor graph of a neighbour direction (:data:`NEIGHBOUR_DIRECTIONS`)."""
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
        static = _static_from_dataset(ds, ids, city)
        graph = _graph_from_dataset(ds, ids, city)
        history = _regular(values, flags, np.zeros_like(flags), start_s, bucket_s, timezone,
                           static, graph, ids)
        if city is None:
            return history
        _, upstream, downstream = city.sensor_graphs(city.sensor_index(ids))
        return replace(history, upstream=upstream, downstream=downstream)

    @classmethod
    def from_window(cls, window: WindowLike, first_bucket: int | None = None, *,
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
    def from_windows(cls, windows: Sequence[WindowLike],
                     first_buckets: Sequence[int | None] | None = None, *,
                     bucket_s: int = 300, timezone: str = DEFAULT_TIMEZONE,
                     static: np.ndarray | None = None, graph: Csr | None = None,
                     upstream: Csr | None = None,
                     downstream: Csr | None = None) -> FeatureHistory:
        """Several windows of the same sensors, oldest first and not overlapping, side by side
        (the live engine's sparse reads, see :func:`live_history`)."""
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


def static_table(city: City, sensors: np.ndarray | None = None) -> np.ndarray:
    """Static attributes of ``sensors`` (global indices, default all) from the registry,
    ``(N, 4)`` float32 in :data:`STATIC_NAMES` order."""
    held = np.arange(city.n_sensors) if sensors is None else np.asarray(sensors, np.int64)
    seg = city.sensor_segment[held]
    return np.stack([city.segment_class[seg], city.segment_lanes[seg],
                     city.segment_free_flow_kmh[seg], city.segment_length_m[seg]],
                    axis=1).astype(np.float32)


def _static_from_dataset(ds: xr.Dataset, ids: np.ndarray, city: City | None) -> np.ndarray:
    out = np.full((len(ids), len(STATIC_NAMES)), np.nan, np.float32)
    if city is not None:
        idx = city.sensor_index(ids)
        known = idx >= 0
        out[known] = static_table(city, idx[known])
    for k, name in enumerate(STATIC_NAMES):
        if name not in ds.coords:
            continue
        raw = np.asarray(ds[name].values)
        if name == "road_class" and raw.dtype.kind in "USO":
            code = pd.Index(ROAD_CLASSES).get_indexer(raw.astype(str))
            out[:, k] = np.where(code >= 0, code, np.nan)
        else:
            out[:, k] = raw.astype(np.float32)
    return out


def _graph_from_dataset(ds: xr.Dataset, ids: np.ndarray, city: City | None) -> Csr | None:
    if "graph_indptr" in ds:
        return Csr(np.asarray(ds["graph_indptr"].values, np.int64),
                   np.asarray(ds["graph_indices"].values, np.int32))
    if city is None:
        return None
    return city.sensor_graphs(city.sensor_index(ids))[0]


# ======================================================================================
# Calendar (Python, once per call: day types are not a kernel)
# ======================================================================================


def calendar_table(buckets: np.ndarray, bucket_s: int, timezone: str, *, offset_s: int = 0,
                   holiday_cap_days: int = 30) -> np.ndarray:
    """Time features of each bucket's start in local time, ``(T, 7)`` float32 in
    :data:`CALENDAR_NAMES` order: sin and cos of the time of day (period 24 h), the bucket's
    index in the day (seconds since midnight // ``bucket_s``), day of week (Monday 0), day type
    (``flowcast.daytypes``), whole days to the next and since the last public holiday (0 on
    one, capped at ``holiday_cap_days``).

    Integer arithmetic on epoch seconds plus the zone's UTC offset (looked up once per distinct
    quarter hour: zones change offset on quarter-hour boundaries), and the calendar once per
    distinct local day, so a live call for one bucket costs microseconds and a month of
    training buckets a few milliseconds."""
    start = np.asarray(buckets, np.int64) * bucket_s + offset_s
    local = start + _utc_offsets(start, timezone)
    day = local // DAY_S
    sec = (local - day * DAY_S).astype(np.float64)
    unique, inverse = np.unique(day, return_inverse=True)
    info = np.array([_day_info(int(d), holiday_cap_days) for d in unique],
                    np.float32).reshape(-1, 3)[inverse]
    out = np.empty((len(start), len(CALENDAR_NAMES)), np.float32)
    out[:, 0] = np.sin(2 * np.pi * sec / DAY_S)
    out[:, 1] = np.cos(2 * np.pi * sec / DAY_S)
    out[:, 2] = np.floor(sec / bucket_s)
    out[:, 3] = (day + 3) % 7  # 1970-01-01 was a Thursday
    out[:, 4:] = info
    return out


_QUARTER_S = 900


def _utc_offsets(epoch_s: np.ndarray, timezone: str) -> np.ndarray:
    """The zone's UTC offset (seconds) at each epoch second."""
    quarter, inverse = np.unique(epoch_s // _QUARTER_S, return_inverse=True)
    offsets = np.array([_utc_offset(int(q) * _QUARTER_S, timezone) for q in quarter], np.int64)
    return offsets[inverse].reshape(epoch_s.shape)


@lru_cache(maxsize=65_536)
def _utc_offset(epoch_s: int, timezone: str) -> int:
    offset = dt.datetime.fromtimestamp(epoch_s, ZoneInfo(timezone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


@lru_cache(maxsize=65_536)
def _day_info(day: int, cap: int) -> tuple[int, int, int]:
    """Day type, days to the next and since the last holiday (capped) of local day ``day``
    (days since 1970-01-01)."""
    date = _EPOCH + dt.timedelta(days=day)

    def holiday(k: int) -> bool:
        return daytypes.day_type(date + dt.timedelta(days=k)) == daytypes.HOLIDAY

    to_h = next((k for k in range(cap + 1) if holiday(k)), cap)
    from_h = next((k for k in range(cap + 1) if holiday(-k)), cap)
    return daytypes.day_type(date), to_h, from_h


_EPOCH = dt.date(1970, 1, 1)


# ======================================================================================
# Builders
# ======================================================================================


def kernel_inputs(history: FeatureHistory, spec: FeatureSpec, sensor: np.ndarray,
                  column: np.ndarray, lut: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The arguments :func:`build_rows` hands the kernel, less ``out`` (for benchmarks and
    debugging): read-only views of the history's arrays, this call's calendar rows (only the
    anchor columns are filled), the spec's static columns and plan arrays."""
    plan = _plan(spec)
    _check(history, spec)
    n, t = history.n_sensors, history.n_buckets
    covs = [_ro(history.values.get(v, np.empty((n, 0))), np.float32) for v in plan.cov_vars]
    covs += [_ro(np.empty((n, 0)), np.float32)] * (2 - len(covs))
    calendar = np.full((t, len(plan.calendar_cols)), np.nan, np.float32)
    if len(plan.calendar_cols):
        cols = np.unique(column)
        table = calendar_table(history.buckets[cols], history.bucket_s, history.timezone,
                               offset_s=history.offset_s, holiday_cap_days=spec.holiday_cap_days)
        calendar[cols] = table[:, plan.calendar_cols]
    static = (np.full((n, len(STATIC_NAMES)), np.nan, np.float32) if history.static is None
              else history.static)[:, plan.static_cols]
    graph = _stacked(history, spec)
    return (
        _ro(history.values[spec.target], np.float32), covs[0], covs[1],
        _ro(history.flags, np.uint8), _ro(history.imputed, np.uint8), _ro(calendar, np.float32),
        _ro(static, np.float32), _ro(graph.indptr, np.int64), _ro(graph.indices, np.int32),
        _ro(sensor, np.int32), _ro(column, np.int32),
        _ro(np.empty(0) if lut is None else lut, np.int32), plan.lags, plan.windows,
        plan.seasonal, plan.cov_var, plan.cov_lag, plan.nb_lags, plan.flag_masks, plan.opts)


def _stacked(history: FeatureHistory, spec: FeatureSpec) -> Csr:
    """The sensor graphs of the spec's neighbour directions as one CSR of ``G * N`` rows (row
    ``g * N + s``: sensor ``s`` in graph ``g``; a missing undirected graph has no edges)."""
    n = history.n_sensors
    empty = Csr(np.zeros(n + 1, np.int64), np.empty(0, np.int32))
    graphs = [history.graph_for(d) or empty
              for d in (spec.neighbour_directions if spec.neighbour_lags else ())]
    if len(graphs) == 1:
        return graphs[0]
    indptr, indices, edges = [np.zeros(1, np.int64)], [], 0
    for g in graphs:
        indptr.append(np.asarray(g.indptr[1:], np.int64) + edges)
        indices.append(np.asarray(g.indices, np.int32))
        edges += int(g.indptr[-1])
    return Csr(np.concatenate(indptr), np.concatenate([np.empty(0, np.int32), *indices]))


def build_rows(history: FeatureHistory, spec: FeatureSpec, sensor: np.ndarray,
               column: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """Feature rows ``(R, F)`` float32 of anchors ``(sensor[r], column[r])`` of ``history``:
    the one place both builders call the kernel. ``lut`` (offset -> column, see
    ``flowcast.kernels.features``) is for histories that are not contiguous."""
    args = kernel_inputs(history, spec, sensor, column, lut)
    out = np.empty((len(sensor), spec.n_features), np.float32)
    kf.build_features(*args, out)
    return out


def _check(history: FeatureHistory, spec: FeatureSpec) -> None:
    if spec.target not in history.values:
        raise ValueError(f"the history has no {spec.target!r} series (it holds "
                         f"{sorted(history.values)}); choose another target")
    if history.bucket_s != spec.bucket_s:
        raise ValueError(f"the history has {history.bucket_s} s buckets, the feature spec "
                         f"{spec.bucket_s} s")
    for direction in spec.neighbour_directions if spec.neighbour_lags else ():
        graph = history.graph_for(direction)
        if graph is None and direction != "all":
            raise ValueError(f"the feature spec reads {direction}stream neighbours but the "
                             "history has no directed sensor graph (it comes from the city)")
        if graph is not None and len(graph.indices) and (
                graph.indices.min() < 0 or graph.indices.max() >= history.n_sensors):
            raise ValueError(f"the {direction} graph names a sensor outside the history")


def training_anchors(history: FeatureHistory, spec: FeatureSpec, *, start: int | None = None,
                     stop: int | None = None, stride: int = 1,
                     sensors: np.ndarray | None = None) -> Anchors:
    """Anchors of a training matrix, time-major (all sensors at one column, then the next):
    every ``stride``-th column ``t`` in ``[start, stop)`` (default the whole history) with
    ``t >= spec.min_history - 1`` (enough lookback for every non-seasonal feature), for
    ``sensors`` (default all)."""
    if not history.contiguous:
        raise ValueError("a training history must be contiguous in time")
    lo = max(spec.min_history - 1, 0 if start is None else int(start))
    hi = history.n_buckets if stop is None else min(int(stop), history.n_buckets)
    cols = np.arange(lo, max(hi, lo), max(int(stride), 1), dtype=np.int32)
    held = (np.arange(history.n_sensors, dtype=np.int32) if sensors is None
            else np.asarray(sensors, np.int32))
    column = np.repeat(cols, len(held))
    sensor = np.tile(held, len(cols))
    return Anchors(sensor, column, history.buckets[column])


def targets(history: FeatureHistory, spec: FeatureSpec, anchors: Anchors,
            horizons: Sequence[int]) -> np.ndarray:
    """``Y`` ``(R, H)`` float32: the target ``horizons[j]`` buckets after each anchor; NaN when
    that bucket is beyond the history or not a measurement: missing, or imputed (an imputed
    value is not a truth; in a cleaned history that includes a value the quality rules
    rejected, e.g. a stuck detector's). A history with ``measured`` series takes the value from
    them (as measured, not as the ring quantizes it)."""
    h = np.asarray(horizons, np.int64)
    t = history.n_buckets
    cols = anchors.column[:, None].astype(np.int64) + h[None, :]
    inside = cols < t
    flat = anchors.sensor[:, None].astype(np.int64) * t + np.minimum(cols, t - 1)
    source = history.values[spec.target]
    if history.measured is not None and spec.target in history.measured:
        source = np.ascontiguousarray(history.measured[spec.target])
    y = np.take(source.ravel(), flat)
    code = (np.take(history.imputed.ravel(), flat) >> (2 * VAR_CODE[spec.target])) & 3
    return np.where(inside & (code == kh.IMP_RAW), y, np.float32(np.nan)).astype(np.float32)


def training_matrix(history: FeatureHistory, spec: FeatureSpec, horizons: Sequence[int], *,
                    start: int | None = None, stop: int | None = None, stride: int = 1,
                    sensors: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, Anchors]:
    """``(X (R, F), Y (R, H), anchors)`` for offline training; ``horizons`` in buckets.

    Rows: :func:`training_anchors`. ``Y[:, j]`` is NaN where the target is missing, imputed
    or beyond the data: callers drop those rows per horizon (never learn them as values).
    """
    if not len(horizons) or min(int(h) for h in horizons) < 1:
        raise ValueError(f"horizons must be whole numbers of buckets >= 1, got {horizons}")
    anchors = training_anchors(history, spec, start=start, stop=stop, stride=stride,
                               sensors=sensors)
    x = build_rows(history, spec, anchors.sensor, anchors.column)
    return x, targets(history, spec, anchors, horizons), anchors


def live_matrix(window: WindowLike | FeatureHistory, first_bucket: int | None,
                spec: FeatureSpec, static: np.ndarray | None = None, graph: Csr | None = None,
                *, timezone: str = DEFAULT_TIMEZONE, upstream: Csr | None = None,
                downstream: Csr | None = None) -> np.ndarray:
    """``X (N, F)``: one row per sensor at the last bucket of a ``RoadState.window`` (its
    first bucket ``first_bucket``, default the window's own; ``static`` ``(N, 4)`` from
    :func:`static_table`; ``graph`` the state's sensor CSR, ``upstream`` / ``downstream`` the
    directed ones in the same local order, :meth:`flowcast.city.City.sensor_graphs`), or at
    the last column of a :class:`FeatureHistory` (e.g. from :func:`live_history`; it carries
    its own static table, graphs and time zone, and the arguments are then ignored). For the
    seasonal columns the window must reach ``spec.lookback`` buckets back."""
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


def live_history(read: Callable[[int, int], WindowLike], anchor_bucket: int,
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
