"""Training the intra-day spot model (:class:`~flowcast.models.spots.forecaster.SpotForecaster`).

The road model's rules (``docs/models.md``), applied to saturation:

- **Only the past.** ``end`` is the first bucket column that may not be read; the series is cut
  there before any row is built.
- **Missing targets are never learnt** (nor scored): a row counts for horizon ``h`` only when
  the saturation ``h`` buckets after its anchor is known and inside the cut series.
- **Time-ordered validation tail.** The last ``validation_fraction`` of the anchor columns whose
  longest-horizon target is known, and every later anchor, is the tail; the boosters fit the
  rows whose target lies before the tail, with early stopping on it, and are then refitted on
  every row for ``best_iteration x rows_all / rows_fit`` rounds. The validation figures come
  from the early-stopped boosters, beside the seasonal-naive (same time yesterday) and
  last-value baselines, scored while the spot is open at the target time (a closed spot holds
  nobody: every forecaster is right there).

LightGBM settings are :class:`~flowcast.models.roads.training.TrainConfig`'s (``horizons`` in
buckets).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.models.roads.forecaster import conformal_margins, widen_intervals
from flowcast.models.roads.training import TrainConfig
from flowcast.models.spots.features import IssueBlock, SpotFeatureSpec, SpotSeries, target_block
from flowcast.models.spots.forecaster import MODEL_NAME, QUANTILES, SpotForecaster
from flowcast.progress import progress_bar

LAST_VALUE_MAX_AGE = 4  # buckets, as the engine's fallback
BASELINES = ("seasonal_naive", "last_value")


@dataclass
class SpotValidation:
    """The validation tail scored by the early-stopped boosters, ``(R, H)`` arrays per row
    (spot ``spot``, anchor ``column``): saturation ``y_true`` (NaN: not a measurement),
    ``y_pred``, ``p10``/``p90`` (None without quantiles), the baselines' forecasts
    ``seasonal_naive`` and ``last_value`` (NaN: no input), and ``open`` (the spot is open at the
    target time)."""

    spot: np.ndarray
    column: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    seasonal_naive: np.ndarray
    last_value: np.ndarray
    open: np.ndarray
    p10: np.ndarray | None = None
    p90: np.ndarray | None = None


@dataclass
class SpotTrainResult:
    """A trained spot model: ``end`` (columns ``< end`` were read), ``rows[h]`` training rows and
    ``best_iteration[h]`` of the mean booster per horizon, and the ``validation`` tail."""

    model: SpotForecaster
    config: TrainConfig
    end: int
    rows: dict[int, int]
    best_iteration: dict[int, int]
    validation: SpotValidation


def series_until(series: SpotSeries, end: int) -> SpotSeries:
    """The first ``end`` columns of ``series`` (views)."""
    end = max(0, min(int(end), series.n_buckets))
    return replace(series, visitors=series.visitors[:, :end], arrivals=series.arrivals[:, :end])


def targets(saturation: np.ndarray, columns: np.ndarray, horizons: tuple[int, ...]) -> np.ndarray:
    """Saturation ``h`` buckets after each anchor, ``(A * K, H)`` in the rows' order (NaN past
    the series' end or where unknown)."""
    t = saturation.shape[1]
    out = []
    for h in horizons:
        c = columns + h
        picked = saturation[:, np.minimum(c, t - 1)].T  # (A, K)
        out.append(np.where((c < t)[:, None], picked, np.nan).reshape(-1))
    return np.column_stack(out).astype(np.float32)


def train_spot_model(series: SpotSeries, spec: SpotFeatureSpec, config: TrainConfig, *,
                     end: int | None = None, progress: bool = True) -> SpotTrainResult:
    """Train one mean booster per horizon of ``spec`` (and P10/P90 boosters with
    ``config.quantiles``) on the columns ``< end`` of ``series`` (default all).

    ``config.horizons`` must equal ``spec.horizons``. Raises ``ValueError`` when there is too
    little history to fit and validate a horizon. A progress bar counts the boosters on a terminal
    when ``progress``.
    """
    if tuple(config.horizons) != spec.horizons:
        raise ValueError(f"config horizons {config.horizons} differ from the spec's "
                         f"{spec.horizons}")
    end = series.n_buckets if end is None else int(end)
    past = series_until(series, end)
    columns = np.arange(0, past.n_buckets, config.stride, dtype=np.int64)
    issue = IssueBlock.build(past, columns, spec)
    y = targets(issue.saturation, columns, spec.horizons)
    anchor_col = np.repeat(columns, past.n_spots)
    cut = _validation_cut(columns, config.validation_fraction, past.n_buckets - max(
        spec.horizons))
    kinds: list[tuple[str, float | None]] = [("mean", None)]
    if config.quantiles:
        kinds += [(f"p{round(q * 100)}", q) for q in QUANTILES]
    fitted: dict[str, dict[int, lgb.Booster]] = {kind: {} for kind, _ in kinds}
    early: dict[str, dict[int, lgb.Booster]] = {kind: {} for kind, _ in kinds}
    rows, best = {}, {}
    val_x: dict[int, np.ndarray] = {}
    tail = anchor_col >= cut
    bar = progress_bar(total=len(spec.horizons) * len(kinds), desc="training spot boosters",
                       unit="booster", enabled=progress, leave=False)
    with bar:
        for j, h in enumerate(spec.horizons):
            x = np.hstack([issue.x, target_block(issue, h)])
            known = ~np.isnan(y[:, j])
            fit, val = known & (anchor_col + h < cut), known & tail
            if fit.sum() < 10 or val.sum() < 1:
                raise ValueError(f"too few rows with a known saturation {h} buckets ahead to "
                                 f"fit and validate ({int(fit.sum())} to fit, {int(val.sum())} "
                                 "to validate); use a longer history or shorter horizons")
            rows[h] = int(known.sum())
            val_x[h] = x[tail]
            for kind, alpha in kinds:
                bar.set_postfix_str(f"{h} steps, {kind}")
                early[kind][h], fitted[kind][h] = _fit(x, y[:, j], fit, val, known, spec,
                                                       config, alpha)
                bar.update()
            best[h] = early["mean"][h].best_iteration or early["mean"][h].current_iteration()
    model = _forecaster(spec, fitted)
    checked = _forecaster(spec, early)
    validation = _validation(checked, issue, y, tail, val_x, config.threads)
    if validation.p10 is not None and validation.p90 is not None:
        # calibrate P10/P90 on the tail (open hours only: a closed spot is trivially covered),
        # as the road model does; the refit model and the validation carry the margins
        truth = np.where(validation.open, validation.y_true, np.nan)
        margins = conformal_margins(truth, validation.p10, validation.p90, spec.horizons,
                                    QUANTILES[1] - QUANTILES[0])
        model.interval_margin = checked.interval_margin = margins
        validation = _validation(checked, issue, y, tail, val_x, config.threads)
    return SpotTrainResult(model, config, end, rows, best, validation)


def _validation_cut(columns: np.ndarray, fraction: float, stop: int) -> int:
    """First anchor column of the validation tail: the last ``fraction`` of the anchor columns
    below ``stop`` (at least one)."""
    cols = columns[columns < stop]
    if len(cols) < 4:
        raise ValueError(f"only {len(cols)} anchor time(s) to train the spot model on; it needs "
                         "more history than its longest horizon")
    k = max(1, round(len(cols) * fraction))
    return int(cols[len(cols) - k])


def _fit(x: np.ndarray, y: np.ndarray, fit: np.ndarray, val: np.ndarray, known: np.ndarray,
         spec: SpotFeatureSpec, config: TrainConfig,
         alpha: float | None) -> tuple[lgb.Booster, lgb.Booster]:
    """(early-stopped booster on the fit rows, the one to keep: refit on every known row)."""
    params = config.lgb_params("l2" if alpha is None else "quantile", alpha)
    names = spec.names

    def data(mask: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        return lgb.Dataset(x[mask], y[mask], feature_name=names, reference=reference,
                           params={"max_bin": params["max_bin"], "verbose": -1})

    train = data(fit)
    booster = lgb.train(params, train, num_boost_round=config.max_rounds,
                        valid_sets=[data(val, train)],
                        callbacks=[lgb.early_stopping(config.early_stopping, verbose=False)])
    booster.free_dataset()
    if not config.refit:
        return booster, booster
    rounds = max(1, min(config.max_rounds, round(
        (booster.best_iteration or booster.current_iteration()) * known.sum() / fit.sum())))
    final = lgb.train(params, data(known), num_boost_round=rounds)
    final.free_dataset()
    return booster, final


def _forecaster(spec: SpotFeatureSpec, boosters: dict[str, dict[int, lgb.Booster]]
                ) -> SpotForecaster:
    quantile = ({h: (boosters["p10"][h], boosters["p90"][h]) for h in spec.horizons}
                if "p10" in boosters else {})
    return SpotForecaster(spec, dict(boosters["mean"]), quantile)


def _validation(model: SpotForecaster, issue: IssueBlock, y: np.ndarray, tail: np.ndarray,
                val_x: dict[int, np.ndarray], threads: int) -> SpotValidation:
    spec = model.spec
    names = spec.names
    n = int(tail.sum())
    shape = (n, len(spec.horizons))
    pred, seasonal, is_open = np.empty(shape, np.float32), np.empty(shape), np.empty(shape, bool)
    p10 = np.empty(shape, np.float32) if model.has_intervals else None
    p90 = np.empty(shape, np.float32) if model.has_intervals else None
    for j, h in enumerate(spec.horizons):
        x = val_x[h]
        pred[:, j] = np.maximum(model.boosters[h].predict(x, num_threads=threads), 0.0)
        if p10 is not None and p90 is not None:
            lo = model.quantile_boosters[h][0].predict(x, num_threads=threads)
            hi = model.quantile_boosters[h][1].predict(x, num_threads=threads)
            m = np.float32(model.interval_margin.get(h, 0.0))
            lo, hi = widen_intervals(np.minimum(lo, hi)[:, None], np.maximum(lo, hi)[:, None],
                                     np.array([m]))
            p10[:, j], p90[:, j] = np.maximum(lo[:, 0], 0), np.maximum(hi[:, 0], 0)
        seasonal[:, j] = x[:, names.index("target_sat_yesterday")]
        is_open[:, j] = ((x[:, names.index("target_since_open")] >= 0)
                         & (x[:, names.index("target_until_close")] > 0))
    recent = np.column_stack([issue.x[tail, names.index(f"sat_lag_{k}")]
                              for k in range(LAST_VALUE_MAX_AGE)])
    newest = np.argmax(~np.isnan(recent), axis=1)
    last = recent[np.arange(n), newest]
    last_value = np.repeat(last[:, None], len(spec.horizons), axis=1)
    k_spots = issue.series.n_spots
    spot = np.tile(np.arange(k_spots), len(issue.columns))[tail]
    column = np.repeat(issue.columns, k_spots)[tail]
    return SpotValidation(spot, column, y[tail], pred, seasonal, last_value, is_open, p10, p90)


def validation_table(validation: SpotValidation, spec: SpotFeatureSpec) -> list[dict[str, Any]]:
    """Per horizon, scored on the rows whose target is known, the spot open at the target
    time, and every forecaster has a value: ``horizon_min``, ``n``, and ``mae``/``rmse`` of the
    model and each baseline (saturation units), plus the P10-P90 ``coverage`` with intervals."""
    out = []
    for j, h in enumerate(spec.horizons):
        truth = validation.y_true[:, j]
        forecasts = {MODEL_NAME: validation.y_pred[:, j],
                     "seasonal_naive": validation.seasonal_naive[:, j],
                     "last_value": validation.last_value[:, j]}
        rows = validation.open[:, j] & ~np.isnan(truth)
        for values in forecasts.values():
            rows &= ~np.isnan(values)
        entry: dict[str, Any] = {"horizon_steps": h, "horizon_min": h * spec.bucket_s / 60,
                                 "n": int(rows.sum()), "mae": {}, "rmse": {}}
        for name, values in forecasts.items():
            err = values[rows].astype(np.float64) - truth[rows]
            entry["mae"][name] = float(np.mean(np.abs(err))) if len(err) else None
            entry["rmse"][name] = float(np.sqrt(np.mean(err ** 2))) if len(err) else None
        if validation.p10 is not None and validation.p90 is not None and rows.any():
            inside = ((validation.p10[rows, j] <= truth[rows])
                      & (truth[rows] <= validation.p90[rows, j]))
            entry["coverage"] = float(inside.mean())
        out.append(entry)
    return out


def format_validation(table: list[dict[str, Any]]) -> str:
    """The validation table as text: MAE per horizon of the model beside the baselines."""
    lines = [f"{'horizon':>8} {'n':>6} {'lightgbm':>9} {'seasonal':>9} {'last':>9} "
             f"{'vs best':>8} {'P10-P90':>8}",
             f"{'min':>8} {'':>6} {'MAE':>9} {'naive':>9} {'value':>9} {'baseline':>8} "
             f"{'cover':>8}"]
    for e in table:
        mae = e["mae"]
        if e["n"] == 0:
            lines.append(f"{e['horizon_min']:>8g} {0:>6} (no scored rows)")
            continue
        best = min(mae[b] for b in BASELINES)
        gain = f"{(mae[MODEL_NAME] / best - 1) * 100:+.1f}%" if best else "-"
        cover = f"{e['coverage']:.0%}" if "coverage" in e else "-"
        lines.append(f"{e['horizon_min']:>8g} {e['n']:>6} {mae[MODEL_NAME]:>9.4f} "
                     f"{mae['seasonal_naive']:>9.4f} {mae['last_value']:>9.4f} {gain:>8} "
                     f"{cover:>8}")
    return "\n".join(lines)
