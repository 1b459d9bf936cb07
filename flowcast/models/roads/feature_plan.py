"""A :class:`~flowcast.models.roads.feature_spec.FeatureSpec` as the feature kernel's plan arrays.

:func:`flowcast.kernels.features.build_features` takes the spec as int64 arrays (lags, windows,
seasonal offsets, covariate and neighbour lags, flag masks, options); they are built once per
spec and cached. Every array handed to the kernel is C-contiguous and read-only
(:func:`readonly`), so the kernel compiles once whatever the caller passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flowcast.kernels import features as kf
from flowcast.models.calendar import BUCKET_CALENDAR_NAMES, HOLIDAY_NAMES, TIME_NAMES
from flowcast.models.roads.feature_spec import (
    FLAG_BITS,
    STATIC_NAMES,
    VAR_CODE,
    FeatureSpec,
    seasonal_offsets,
)


@dataclass(frozen=True)
class FeaturePlan:
    """A spec as the kernel's int64 arrays, plus the columns it takes of the static table
    (:data:`STATIC_NAMES`) and of the calendar table (:data:`BUCKET_CALENDAR_NAMES`)."""

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
def feature_plan(spec: FeatureSpec) -> FeaturePlan:
    """The kernel's plan of ``spec`` (cached per spec)."""
    def arr(values: Sequence[int]) -> np.ndarray:
        return readonly(np.array(values, np.int64).reshape(-1), np.int64)

    cov_vars = tuple(dict.fromkeys(v for v, _ in spec.covariates))
    opts = np.zeros(kf.N_OPT, np.int64)
    opts[kf.OPT_IMP_SHIFT] = 2 * VAR_CODE[spec.target]
    opts[kf.OPT_IMP_WINDOW] = spec.imputed_window
    opts[kf.OPT_NB_DIFF] = int(spec.neighbour_diff)
    calendar = (TIME_NAMES if spec.time_features else ()) + (
        HOLIDAY_NAMES if spec.holiday_distance else ())
    return FeaturePlan(
        lags=arr(spec.lags), windows=arr(spec.windows), seasonal=arr(seasonal_offsets(spec)),
        cov_vars=cov_vars, cov_var=arr([cov_vars.index(v) for v, _ in spec.covariates]),
        cov_lag=arr([k for _, k in spec.covariates]), nb_lags=arr(spec.neighbour_lags),
        flag_masks=arr([FLAG_BITS[f] for f in spec.flags]), opts=readonly(opts, np.int64),
        static_cols=np.array([STATIC_NAMES.index(n) for n in spec.static], np.int64),
        calendar_cols=np.array([BUCKET_CALENDAR_NAMES.index(n) for n in calendar], np.int64))


def readonly(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a C-contiguous read-only array of ``dtype``, so the kernel compiles once
    whatever the caller handed over (no copy when it already is one)."""
    out = np.ascontiguousarray(values, dtype).view()
    out.flags.writeable = False
    return out
