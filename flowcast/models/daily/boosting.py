"""The LightGBM boosters of one horizon of the daily-arrivals model, and their settings.

Early stopping uses a time-ordered validation tail of the training span; the booster is then
refitted on the whole span with the rounds found. Optional quantile boosters give P10 / P90.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.models.daily import features as dfe

MIN_TRAIN_ROWS = 30
QUANTILES = {"p10": 0.1, "p90": 0.9}


@dataclass(frozen=True)
class DailyConfig:
    """Training settings. ``intervals``: also train P10 and P90 quantile boosters;
    ``val_days``: the validation tail (days of origins) for early stopping; ``params`` override
    LightGBM's."""

    intervals: bool = True
    val_days: int = 42
    max_rounds: int = 600
    early_stopping: int = 50
    min_rounds: int = 30
    half_life_days: float | None = None
    seed: int = 7
    params: dict[str, Any] = field(default_factory=dict)

    def lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        """LightGBM parameters for one booster (small, regularised trees: a spot has a few
        hundred training days)."""
        params: dict[str, Any] = {
            "objective": objective, "learning_rate": 0.03, "num_leaves": 15,
            "min_data_in_leaf": 15, "feature_fraction": 0.8, "bagging_fraction": 0.8,
            "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 63, "verbose": -1,
            "seed": self.seed, "deterministic": True, "force_row_wise": True, "num_threads": 1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return {**params, **self.params}


def fit_horizon(X: np.ndarray, z: np.ndarray, origins: np.ndarray, horizon: int,
                config: DailyConfig) -> tuple[dict[str, lgb.Booster], dict[str, Any]]:
    """The point booster (and the quantile boosters) of one ``horizon`` (days), trained on
    rows ``X`` ``(R, F)`` with targets ``z`` ``(R,)`` issued at day indices ``origins``
    (increasing), with ``{"rows", "rounds"}`` for ``model.json``."""
    kinds = {"point": ("regression", None)}
    if config.intervals:
        kinds.update({name: ("quantile", q) for name, q in QUANTILES.items()})
    out: dict[str, lgb.Booster] = {}
    rounds: dict[str, int] = {}
    for kind, (objective, alpha) in kinds.items():
        params = config.lgb_params(objective, alpha)
        rounds[kind] = _best_rounds(X, z, origins, horizon, params, config)
        weight = _weights(origins, config.half_life_days)
        out[kind] = lgb.train(params, _dataset(X, z, weight), num_boost_round=rounds[kind])
    return out, {"rows": len(z), "rounds": rounds}


def _best_rounds(X: np.ndarray, z: np.ndarray, origins: np.ndarray, horizon: int,
                 params: dict[str, Any], config: DailyConfig) -> int:
    """Rounds chosen by early stopping on the last ``val_days`` origins; the fitting part
    keeps only rows whose target is known at the first validation origin."""
    cut = origins[-1] - config.val_days + 1
    val = origins >= cut
    train = origins + horizon <= cut
    if val.sum() < 7 or train.sum() < MIN_TRAIN_ROWS:
        return config.min_rounds
    weight = _weights(origins[train], config.half_life_days)
    booster = lgb.train(params, _dataset(X[train], z[train], weight),
                        num_boost_round=config.max_rounds,
                        valid_sets=[_dataset(X[val], z[val])],
                        callbacks=[lgb.early_stopping(config.early_stopping, verbose=False)])
    return max(config.min_rounds, int(booster.best_iteration or config.max_rounds))


def _dataset(X: np.ndarray, z: np.ndarray, weight: np.ndarray | None = None) -> lgb.Dataset:
    return lgb.Dataset(X, z, weight=weight, feature_name=list(dfe.FEATURES),
                       free_raw_data=True, params={"verbose": -1, "max_bin": 63})


def _weights(origins: np.ndarray, half_life: float | None) -> np.ndarray | None:
    """Row weights halving every ``half_life`` days back from the newest origin (None: equal)."""
    if half_life is None or not len(origins):
        return None
    return np.power(0.5, (origins[-1] - origins) / half_life)
