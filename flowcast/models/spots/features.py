"""Feature rows of the intra-day scenic-spot model: one vectorised numpy builder, offline and live.

A forecast is issued at the end of an *anchor* bucket ``a`` (the bucket that just closed) for
bucket ``a + h``. Everything is in **saturation** units (visitors ÷ instantaneous capacity,
arrivals ÷ instantaneous capacity), so one model covers spots of every size.

The same function, :func:`feature_matrix`, builds the training matrix from a dataset's
``(K, T)`` series (:meth:`SpotSeries.from_dataset`) and the live rows from the engine's ring
(:meth:`SpotSeries.from_window`, the anchor being the window's last column). Every value is an
element gather or a running sum/max inside one local day, computed the same way on both, so a
live row equals the offline row of the same bucket bit for bit
(``tests/models/spots/test_forecaster.py``).

Columns are in :attr:`SpotFeatureSpec.names`: the *issue* block (recent lags and deltas of
saturation, arrivals, today so far against yesterday so far, same time yesterday and last week,
issue time of day against the opening hours, China's day type of the issue day, capacity) and
the *target* block of one horizon (target time of day against the opening hours, the target's
saturation yesterday and last week, yesterday's value scaled by today's pace, the target day's
day type). Features read only buckets ``<= a``: the seasonal values of a target are the latest
same time of day (or week) that is not after the anchor. A value the history does not hold is
NaN (LightGBM routes it).

Days are local days of a fixed UTC offset (the city's; Chinese cities keep no DST), and the
bucket must divide a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from flowcast.models.calendar import DAY_S, DEFAULT_TIMEZONE, day_calendar, utc_offset_of

SPEC_KIND = "spot-intraday"
SPEC_VERSION = 1
SAT_LAGS = (0, 1, 2, 3, 4, 8)
ARRIVAL_LAGS = (0, 1, 2, 3)

ISSUE_FEATURES: tuple[str, ...] = (
    *(f"sat_lag_{k}" for k in SAT_LAGS), "sat_delta_1", "sat_delta_4",
    *(f"arr_lag_{k}" for k in ARRIVAL_LAGS), "arr_last_hour",
    "arr_today", "sat_max_today", "arr_yesterday_so_far", "pace_vs_yesterday",
    "sat_yesterday_now", "sat_last_week_now",
    "issue_minute", "issue_since_open", "issue_until_close",
    "issue_dow", "issue_day_type", "issue_holiday", "issue_golden_week", "issue_makeup",
    "capacity",
)
TARGET_FEATURES: tuple[str, ...] = (
    "target_minute", "target_since_open", "target_until_close", "target_next_day",
    "target_sat_yesterday", "target_sat_last_week", "target_sat_yesterday_paced",
    "target_dow", "target_day_type", "target_holiday", "target_golden_week", "target_makeup",
    "target_block_day",
)


@dataclass(frozen=True)
class SpotFeatureSpec:
    """What the spot model reads: ``bucket_s`` (seconds, dividing a day), ``horizons``
    (buckets ahead, ascending), and the spec ``version``. Every horizon's booster reads the
    same column names (:attr:`names`); the target block differs by horizon."""

    bucket_s: int
    horizons: tuple[int, ...]
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        if self.bucket_s < 1 or DAY_S % self.bucket_s:
            raise ValueError(f"the spot bucket ({self.bucket_s} s) must divide a day")
        if not self.horizons or min(self.horizons) < 1 or list(self.horizons) != sorted(
                set(self.horizons)):
            raise ValueError(f"horizons must be distinct, ascending buckets >= 1, got "
                             f"{self.horizons}")
        if self.version != SPEC_VERSION:
            raise ValueError(f"spot feature spec version {self.version} is not known here "
                             f"(this flowcast builds version {SPEC_VERSION})")

    @property
    def buckets_per_day(self) -> int:
        """Buckets in a day."""
        return DAY_S // self.bucket_s

    @property
    def names(self) -> list[str]:
        """Column names of a feature row (issue block, then target block)."""
        return [*ISSUE_FEATURES, *TARGET_FEATURES]

    @property
    def n_features(self) -> int:
        """Columns of a feature row."""
        return len(ISSUE_FEATURES) + len(TARGET_FEATURES)

    @property
    def lookback(self) -> int:
        """Buckets of history a complete row reads, the anchor included (a week and one)."""
        return 7 * self.buckets_per_day + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON of the spec (for ``spots/model.json``)."""
        return {"kind": SPEC_KIND, "version": self.version, "bucket_s": self.bucket_s,
                "horizons_steps": list(self.horizons)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpotFeatureSpec:
        """The spec of :meth:`to_dict`; ``ValueError`` for another kind or version."""
        if data.get("kind") != SPEC_KIND:
            raise ValueError(f"feature spec kind {data.get('kind')!r} is not {SPEC_KIND!r}")
        return cls(int(data["bucket_s"]), tuple(data["horizons_steps"]),
                   int(data["version"]))


@dataclass(frozen=True)
class SpotSeries:
    """Consecutive buckets ``first_bucket .. first_bucket + T - 1`` of ``K`` spots:
    ``visitors`` (people inside at the bucket's end) and ``arrivals`` (per bucket), float32
    ``(K, T)``, NaN = no data; per spot ``capacity`` (instantaneous, visitors), ``opens_min`` /
    ``closes_min`` (local minutes after midnight); ``utc_offset_min`` of the local days."""

    visitors: np.ndarray
    arrivals: np.ndarray
    first_bucket: int
    bucket_s: int
    capacity: np.ndarray
    opens_min: np.ndarray
    closes_min: np.ndarray
    utc_offset_min: int

    @property
    def n_spots(self) -> int:
        """Spots (rows of the arrays)."""
        return int(self.visitors.shape[0])

    @property
    def n_buckets(self) -> int:
        """Buckets (columns of the arrays)."""
        return int(self.visitors.shape[1])

    @classmethod
    def from_window(cls, window: Any, *, bucket_s: int, capacity: np.ndarray,
                    opens_min: np.ndarray, closes_min: np.ndarray,
                    utc_offset_min: int) -> SpotSeries:
        """The engine's :class:`~flowcast.kernels.windows.SpotWindow` (anything with
        ``first_bucket``, ``visitors`` and ``arrivals``) as a series."""
        return cls(np.asarray(window.visitors, np.float32), np.asarray(window.arrivals,
                                                                        np.float32),
                   int(window.first_bucket), int(bucket_s), _f64(capacity), _f64(opens_min),
                   _f64(closes_min), int(utc_offset_min))

    @classmethod
    def from_dataset(cls, spots: Any, *, opens_min: np.ndarray, closes_min: np.ndarray,
                     utc_offset_min: int | None = None) -> SpotSeries:
        """A dataset's ``spots.nc`` (xarray, dims ``(spot, time)``) as a series; the UTC
        offset defaults to that of the dataset's ``timezone`` attribute."""
        bucket_s = int(spots.attrs["interval_s"])
        times = np.asarray(spots["time"].values).astype("datetime64[s]").astype(np.int64)
        if utc_offset_min is None:
            utc_offset_min = utc_offset_of(str(spots.attrs.get("timezone", DEFAULT_TIMEZONE)))
        return cls(np.asarray(spots["visitors"].values, np.float32),
                   np.asarray(spots["arrivals"].values, np.float32),
                   int(times[0] // bucket_s), bucket_s,
                   _f64(spots["capacity_instant"].values), _f64(opens_min), _f64(closes_min),
                   int(utc_offset_min))

    def saturation(self) -> np.ndarray:
        """Visitors ÷ capacity, float32 ``(K, T)`` (NaN where no data)."""
        return (self.visitors / self.capacity[:, None]).astype(np.float32)


def _f64(values: Any) -> np.ndarray:
    return np.asarray(values, np.float64).reshape(-1)


# --------------------------------------------------------------------------------------------
# Building rows
# --------------------------------------------------------------------------------------------

def feature_matrix(series: SpotSeries, columns: np.ndarray, spec: SpotFeatureSpec,
                   horizon: int) -> np.ndarray:
    """Feature rows ``(A * K, F)`` float32 for forecasts issued at the end of the anchor
    columns ``columns`` ``(A,)`` of ``series`` for ``horizon`` buckets ahead; row
    ``i * K + k`` is anchor ``columns[i]`` of spot ``k``."""
    issue = IssueBlock.build(series, columns, spec)
    return np.hstack([issue.x, target_block(issue, horizon)])


@dataclass(frozen=True)
class IssueBlock:
    """The horizon-independent part of the rows of some anchors: ``x`` ``(A * K, Fi)`` and
    what the target blocks reuse."""

    series: SpotSeries
    spec: SpotFeatureSpec
    columns: np.ndarray
    x: np.ndarray
    saturation: np.ndarray  # (K, T)
    pace: np.ndarray  # (A * K,) today's arrivals so far / yesterday's by the same time
    issue_day: np.ndarray  # (A,) local day number (days since the epoch) of each anchor's issue
    issue_minute: np.ndarray  # (A,) local minute of day at the issue time

    @classmethod
    def build(cls, series: SpotSeries, columns: np.ndarray, spec: SpotFeatureSpec) -> IssueBlock:
        """The issue block of ``columns`` (anchor column indices into ``series``)."""
        if series.bucket_s != spec.bucket_s:
            raise ValueError(f"series of {series.bucket_s} s buckets, spec of {spec.bucket_s} s")
        cols = np.asarray(columns, np.int64)
        bpd = spec.buckets_per_day
        sat = series.saturation()
        arr = (series.arrivals / series.capacity[:, None]).astype(np.float32)
        day_arr = _day_running(arr, series, np.add, 0.0)
        day_max = _day_running(sat, series, np.fmax, np.nan)
        cols_: dict[str, np.ndarray] = {}
        for k in SAT_LAGS:
            cols_[f"sat_lag_{k}"] = _take(sat, cols - k)
        cols_["sat_delta_1"] = cols_["sat_lag_0"] - cols_["sat_lag_1"]
        cols_["sat_delta_4"] = cols_["sat_lag_0"] - cols_["sat_lag_4"]
        lags = [_take(arr, cols - k) for k in ARRIVAL_LAGS]
        for k, values in zip(ARRIVAL_LAGS, lags, strict=True):
            cols_[f"arr_lag_{k}"] = values
        cols_["arr_last_hour"] = _take(arr, cols[None, :] - np.arange(
            max(1, 3600 // spec.bucket_s))[:, None]).sum(axis=0)
        today = _take(day_arr, cols)
        yesterday = _take(day_arr, cols - bpd)
        cols_["arr_today"] = today
        cols_["sat_max_today"] = _take(day_max, cols)
        cols_["arr_yesterday_so_far"] = yesterday
        with np.errstate(divide="ignore", invalid="ignore"):
            pace = np.where(yesterday > 0, today / yesterday, np.nan).astype(np.float32)
        cols_["pace_vs_yesterday"] = pace
        cols_["sat_yesterday_now"] = _take(sat, cols - bpd)
        cols_["sat_last_week_now"] = _take(sat, cols - 7 * bpd)
        issue_s = (series.first_bucket + cols + 1) * spec.bucket_s + series.utc_offset_min * 60
        day, minute = np.divmod(issue_s, DAY_S)
        minute = minute // 60
        cols_["issue_minute"] = _spread(minute, series.n_spots)
        cols_["issue_since_open"] = minute[:, None] - series.opens_min[None, :]
        cols_["issue_until_close"] = series.closes_min[None, :] - minute[:, None]
        cal = day_calendar(day)
        for name in ("dow", "day_type", "holiday", "golden_week", "makeup"):
            cols_[f"issue_{name}"] = _spread(cal[f"cal_{name}"], series.n_spots)
        cols_["capacity"] = np.broadcast_to(series.capacity[None, :], (len(cols),
                                                                      series.n_spots))
        x = np.column_stack([_flat(cols_[name], len(cols), series.n_spots)
                             for name in ISSUE_FEATURES])
        return cls(series, spec, cols, x, sat, pace.reshape(-1), day, minute)


def target_block(issue: IssueBlock, horizon: int) -> np.ndarray:
    """The target block ``(A * K, Ft)`` float32 of ``horizon`` buckets ahead."""
    series, spec, cols = issue.series, issue.spec, issue.columns
    k_spots, n = series.n_spots, len(cols)
    bpd = spec.buckets_per_day
    minutes = issue.issue_minute + horizon * spec.bucket_s // 60
    day_ahead, minute = np.divmod(minutes, 1440)
    out: dict[str, np.ndarray] = {
        "target_minute": _spread(minute, k_spots),
        "target_since_open": minute[:, None] - series.opens_min[None, :],
        "target_until_close": series.closes_min[None, :] - minute[:, None],
        "target_next_day": _spread(day_ahead, k_spots),
    }
    yesterday = _take(issue.saturation, cols + horizon - bpd * -(-horizon // bpd))
    week = 7 * bpd
    out["target_sat_yesterday"] = yesterday
    out["target_sat_last_week"] = _take(issue.saturation, cols + horizon - week * -(
        -horizon // week))
    out["target_sat_yesterday_paced"] = yesterday * issue.pace.reshape(n, k_spots)
    cal = day_calendar(issue.issue_day + day_ahead)
    for name in ("dow", "day_type", "holiday", "golden_week", "makeup", "block_day"):
        out[f"target_{name}"] = _spread(cal[f"cal_{name}"], k_spots)
    return np.column_stack([_flat(out[name], n, k_spots) for name in TARGET_FEATURES])


def _take(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values[:, columns]`` transposed to ``(..., K)`` (columns' shape first), NaN where a
    column is outside the series."""
    t = values.shape[1]
    inside = (columns >= 0) & (columns < t)
    picked = values[:, np.clip(columns, 0, max(t - 1, 0))]  # (K, *columns.shape)
    picked = np.moveaxis(picked, 0, -1)
    return np.where(inside[..., None], picked, np.float32(np.nan)).astype(np.float32)


def _spread(values: np.ndarray, k_spots: int) -> np.ndarray:
    """A per-anchor ``(A,)`` value repeated for every spot: ``(A, K)``."""
    return np.repeat(np.asarray(values, np.float64)[:, None], k_spots, axis=1)


def _flat(values: np.ndarray, n: int, k_spots: int) -> np.ndarray:
    return np.broadcast_to(values, (n, k_spots)).reshape(-1).astype(np.float32)


def _day_running(values: np.ndarray, series: SpotSeries, op: np.ufunc,
                 fill: float) -> np.ndarray:
    """Running ``op`` (``np.add`` or ``np.fmax``) of ``values`` ``(K, T)`` within each local
    day, from the day's first bucket; NaN counts as ``fill``. The columns are laid on whole
    days, so the same bucket gives the same result whatever span the series covers."""
    bpd = DAY_S // series.bucket_s
    offset = series.utc_offset_min * 60 // series.bucket_s
    lead = int((series.first_bucket + offset) % bpd)
    k, t = values.shape
    days = -(-(lead + t) // bpd)
    grid = np.full((k, days * bpd), fill, np.float64)
    source = np.asarray(values, np.float64)
    if fill == 0.0:
        source = np.nan_to_num(source, nan=0.0)
    grid[:, lead:lead + t] = source
    grid = op.accumulate(grid.reshape(k, days, bpd), axis=2).reshape(k, days * bpd)
    return grid[:, lead:lead + t].astype(np.float32)
