"""What a road model reads: :class:`FeatureSpec`, its JSON form, and its column names.

Every count is in buckets of the spec's ``bucket_s`` seconds. An *anchor* is a (sensor, bucket)
whose bucket ``t`` is the last one observed; ``lag k`` is the target at ``t - k + 1`` (lag 1 = the
anchor bucket itself) and horizon ``h`` targets bucket ``t + h``. The feature list, definitions,
units and NaN rules are in ``docs/features.md``; :mod:`flowcast.models.roads.matrices` builds
the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from numbers import Integral
from typing import Any

from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.models.calendar import DAY_S, HOLIDAY_NAMES, TIME_NAMES

SPEC_KIND = "flowcast.features"
SPEC_VERSION = 2
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

CATEGORICAL: frozenset[str] = frozenset({"dow", "daytype", "road_class"})
NEIGHBOUR_DIRECTIONS: tuple[str, ...] = ("all", "up", "down")
"""Sensor graphs a spec's neighbour features may read: ``all`` the undirected graph
(:attr:`FeatureHistory.graph`), ``up`` the sensors upstream (the traffic arriving), ``down``
those downstream (the queue ahead), :attr:`FeatureHistory.upstream` / ``downstream``."""
DIRECTED: tuple[str, ...] = ("up", "down")



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

    >>> spec = FeatureSpec(lags=(1, 2), windows=(3,), seasonal=(288,), static=(), flags=(),
    ...                    neighbour_lags=(), imputed_window=0, time_features=False)
    >>> spec.names[:3], spec.names[-1], spec.n_features
    (['speed_lag_1', 'speed_lag_2', 'speed_mean_3'], 'speed_seasonal_288_0', 6)
    >>> FeatureSpec.from_dict(spec.to_dict()) == spec
    True
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
