"""SZ-taxi (Shenzhen taxi speeds, 40 roads, 15 min) under the T-GCN paper's protocol.

What runs is exactly what an operator would type::

    flowcast import ../shared/data/sz-taxi/ye11qing-subset40/sz_speed.csv \\
        --adjacency ../shared/data/sz-taxi/ye11qing-subset40/sz_adj.csv --out data/sz
    flowcast backtest data/sz --protocol tgcn --zero-is-missing --report reports/sz

(zeros are kept in the dataset, treated as "no data" by training and the model's inputs, and
scored as values, as T-GCN scores them). The figures go to ``benchmarks/results/sz-taxi.md``;
this file asserts structure only: the report's shape, and that the published reference
figures (T-GCN's own predictions, HA, last value from ``../shared/data/sz-taxi/SOURCE.md``)
come out of our table's test windows unchanged, which proves the split and the windows are the
paper's. It never asserts our model's error or any time.

Run: ``.venv/bin/pytest benchmarks/test_sz_taxi.py --benchmark-only -s``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flowcast.cli import main
from flowcast.evaluation.prediction_rows import ROAD_BASELINES
from flowcast.evaluation.report import read_predictions
from flowcast.formats.dataset import save_dataset
from flowcast.ingest.csv.importer import read_csv_dataset
from flowcast.ingest.csv.options import ImportOptions
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

SZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "sz-taxi"
SUBSET = SZ / "ye11qing-subset40"
TGCN_RESULT = SZ / "lehaifeng-T-GCN" / "tgcn_sz_seq4_pre1_test_result.csv"
# SOURCE.md: the 40-road subset, 15 min, T-GCN protocol
PUBLISHED = {"tgcn": (4.8706, 3.5281), "ha_last4": (5.0833, 3.5540),
             "last_value": (6.2376, 4.2821)}
HA_LAST4_RMSE = {2: 5.1708, 3: 5.2437, 4: 5.3075}

pytestmark = pytest.mark.skipif(not SUBSET.is_dir(), reason=f"{SUBSET} is not there")


@pytest.fixture(scope="module")
def sz_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The subset imported with its adjacency, zeros kept as values."""
    result = read_csv_dataset(SUBSET / "sz_speed.csv",
                              ImportOptions(adjacency=SUBSET / "sz_adj.csv"))
    return save_dataset(result.dataset, tmp_path_factory.mktemp("sz") / "sz")


def _rmse_mae(err: np.ndarray) -> tuple[float, float]:
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))


def _reference(raw: np.ndarray, origins: np.ndarray) -> dict[str, Any]:
    """The published baselines recomputed on our windows: last value, and T-GCN's "HA"
    (Baselines/baselines.py: step 1 is the mean of the last 4 inputs, each later step the mean
    of the last 4 with the earlier steps' forecasts appended), raw data, zeros kept; pooled
    over steps 1..h, for each pre_len h on the windows T-GCN itself uses (origin <= T-2-h)."""
    t = raw.shape[1]
    out: dict[str, Any] = {}
    for h in (1, 2, 3, 4):
        o = origins[origins <= t - 2 - h]
        truth = np.concatenate([raw[:, o + s] for s in range(1, h + 1)], axis=1)
        last = np.tile(raw[:, o], h)
        window = [raw[:, o - k] for k in (3, 2, 1, 0)]
        steps = []
        for _ in range(h):
            steps.append(np.mean(window[-4:], axis=0))
            window.append(steps[-1])
        out[h] = {"last_value": _rmse_mae(last - truth),
                  "ha_last4": _rmse_mae(np.concatenate(steps, axis=1) - truth)}
    return out


def test_sz_taxi_tgcn_protocol(benchmark: Any, sz_dataset: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    argv = ["backtest", str(sz_dataset), "--protocol", "tgcn", "--zero-is-missing",
            "--report", str(report)]
    code = benchmark.pedantic(main, args=(argv,), rounds=1, iterations=1)
    assert code == 0
    doc = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert doc["horizons_steps"] == [1, 2, 3, 4] and doc["series"] == 40
    assert doc["protocol"]["zero_is_missing"] is False
    assert doc["meta"]["zeros_in_inputs"] == "missing"
    pooled = {(r["model"], r["horizon_steps"]): r for r in doc["tgcn_pooled"]}
    assert set(pooled) == {(m, h) for m in ("lightgbm", *ROAD_BASELINES) for h in (1, 2, 3, 4)}

    table = read_predictions(report / "predictions.csv")
    ours = table[table["model"] == "lightgbm"]
    first = ours[ours["horizon_steps"] == 1].sort_values(["origin", "series"])
    assert len(first) == 591 * 40  # T-GCN's 591 test windows at 15 min, every road
    raw = pd.read_csv(SUBSET / "sz_speed.csv").drop(columns="date").to_numpy(np.float64).T
    start = pd.Timestamp("2015-01-01 00:00", tz="Asia/Shanghai")
    origin_cols = ((first["origin"].drop_duplicates() - start) / pd.Timedelta(minutes=15)
                   ).to_numpy().astype(np.int64) - 1
    assert origin_cols[0] == 2383 and origin_cols[-1] == 2973

    # T-GCN's own predictions on the same 591 x 40 targets as our 15-min rows
    tgcn = pd.read_csv(TGCN_RESULT, header=None).to_numpy(np.float64)[:, :40]
    truth = first["y_true"].to_numpy().reshape(591, 40)
    series = first["series"].to_numpy().reshape(591, 40)[0].tolist()
    order = [int(np.flatnonzero(pd.read_csv(SUBSET / "sz_speed.csv", nrows=0).columns[1:]
                                == s)[0]) for s in series]
    tgcn_err = tgcn[:, order] - truth
    reference = _reference(raw, origin_cols)
    np.testing.assert_allclose(_rmse_mae(tgcn_err), PUBLISHED["tgcn"], atol=5e-4)
    np.testing.assert_allclose(reference[1]["last_value"], PUBLISHED["last_value"], atol=5e-4)
    np.testing.assert_allclose(reference[1]["ha_last4"], PUBLISHED["ha_last4"], atol=5e-4)
    for h, rmse in HA_LAST4_RMSE.items():
        assert reference[h]["ha_last4"][0] == pytest.approx(rmse, abs=5e-4)

    exact = _exact_windows(table, origin_cols[0])
    _print(pooled, exact, reference, doc)
    benchmark.extra_info.update(
        pooled={f"{m}@{h}": [pooled[(m, h)]["rmse"], pooled[(m, h)]["mae"]]
                for m, h in pooled},
        exact_windows={f"{m}@{h}": v for (m, h), v in exact.items()},
        seconds=doc["meta"]["seconds"])


def _exact_windows(table: pd.DataFrame, first_origin_col: int) -> dict[tuple[str, int], Any]:
    """Pooled RMSE/MAE with T-GCN's own windows for each pre_len h (origins up to T - 2 - h;
    the report's table pools every origin whose target is in the test part)."""
    last_origin = table["origin"].max()
    out = {}
    for h in (1, 2, 3, 4):
        cutoff = last_origin - pd.Timedelta(minutes=15 * (h - 1))
        rows = table[(table["horizon_steps"] <= h) & (table["origin"] <= cutoff)]
        for model, part in rows.groupby("model"):
            err = (part["y_pred"] - part["y_true"]).dropna().to_numpy()
            out[(str(model), h)] = [*_rmse_mae(err), len(err)]
    return out


def _print(pooled: dict, exact: dict, reference: dict, doc: dict) -> None:
    print("\nSZ-taxi, T-GCN protocol, pooled over steps 1..h, zeros kept (RMSE / MAE)")
    for h in (1, 2, 3, 4):
        cells = [f"{m} {pooled[(m, h)]['rmse']:.4f}/{pooled[(m, h)]['mae']:.4f}"
                 for m in ("lightgbm", *ROAD_BASELINES)]
        print(f"  {15 * h} min: " + "; ".join(cells))
        print(f"     exact T-GCN windows: lightgbm {exact[('lightgbm', h)][0]:.4f}/"
              f"{exact[('lightgbm', h)][1]:.4f}; HA(last 4) "
              f"{reference[h]['ha_last4'][0]:.4f}/{reference[h]['ha_last4'][1]:.4f}; "
              f"raw last value {reference[h]['last_value'][0]:.4f}/"
              f"{reference[h]['last_value'][1]:.4f}")
    print(f"  backtest (train + forecast + report): {doc['meta']['seconds']} s")


def test_sz_taxi_training_time(benchmark: Any, sz_dataset: Path) -> None:
    """``flowcast train`` on the whole month (no split): 4 horizons x (mean, P10, P90)."""
    from flowcast.formats.dataset import load_dataset

    roads = load_dataset(sz_dataset).roads
    assert roads is not None
    history = road_history(roads, zero_is_missing=True)
    spec = FeatureSpec.for_bucket(900, horizons=(1, 2, 3, 4))
    config = TrainConfig(horizons=(1, 2, 3, 4), zero_is_missing=True)
    result = benchmark.pedantic(train_road_model, args=(history, spec, config),
                                kwargs={"progress": False}, rounds=1, iterations=1)
    assert result.model.has_intervals and set(result.rows) == {1, 2, 3, 4}
    trees = {h: b.num_trees() for h, b in result.model.boosters.items()}
    benchmark.extra_info.update(rows=result.rows, trees=trees)
    print(f"\nSZ-taxi training: rows {result.rows}, mean-booster trees {trees}")
