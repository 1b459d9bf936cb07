"""Jiuzhaigou daily arrivals under the tourism paper's protocol (Li et al. 2024, TPE-RobustSTL-TFT):
trained on time_idx <= 440 (up to 2021-06-14), tested on the last 90 days (2021-06-15 ..
2021-09-12), horizons 1, 3, 7, 15, 30 days. Our LightGBM and the three baselines use no future
information; the paper's published forecasts (scored here with the same code) do: see
``../shared/data/scenic-spots-jiuzhaigou-hawaii/SOURCE.md`` and
``benchmarks/results/jiuzhaigou.md``.

Run: ``.venv/bin/pytest benchmarks/test_jiuzhaigou.py -s`` (about half a minute on 2 cores).
It prints two tables: every forecast issued daily (rolling origins), and the paper's block
scheme (each block of h test days forecast from its first day's eve, steps 1..h pooled), with
the published TFT beside ours. Only the structure is asserted; the numbers go to the results
file by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.evaluation.daily_backtest import backtest_daily, block_scheme
from flowcast.evaluation.metrics import horizon_metrics
from flowcast.evaluation.report import write_report
from flowcast.evaluation.report_text import format_table
from flowcast.models.calendar import DAY_S
from flowcast.models.daily import forecaster as da
from flowcast.models.daily.data import data_hash, read_daily_csv

DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data"
        / "scenic-spots-jiuzhaigou-hawaii")
SERIES_CSV = DATA / "jiuzhaigou-data.csv"
TFT_CSV = DATA / "jiuzhaigou-tft-test-forecasts.csv"
TEST_DAYS = 90
HORIZONS = da.PAPER_HORIZONS
TFT = "tft_published"
# The published TFT errors as SOURCE.md computes them from the paper's prediction file
# (MAE, RMSE); scoring that file here must give the same figures, or the protocol is off.
SOURCE_MD_TFT = {1: (146.08, 295.97), 3: (355.01, 700.70), 7: (851.80, 1566.05),
                 15: (930.62, 1467.29), 30: (1779.48, 2781.99)}
MODELS = ("lightgbm", "last_value", "historical_average", "seasonal_naive")


def _data() -> pd.Series:
    for path in (SERIES_CSV, TFT_CSV):
        if not path.is_file():
            pytest.fail(f"{path} is missing; the shared data folder must sit beside the repo")
    return read_daily_csv(SERIES_CSV)


def tft_blocks(block: int, first_origin: pd.Timestamp) -> pd.DataFrame:
    """The paper's published forecasts for prediction length ``block`` as a predictions table:
    test day ``i`` (0-based) is step ``i % block + 1`` of the block issued at day
    ``first_origin + (i // block) * block``."""
    raw = pd.read_csv(TFT_CSV, encoding="utf-8-sig")
    days = pd.to_datetime(raw.iloc[:, 0], format="%Y/%m/%d").dt.tz_localize(da.DEFAULT_TIMEZONE)
    i = np.arange(len(raw))
    return pd.DataFrame({
        "series": "JiuZhaigou",
        "origin": first_origin + pd.to_timedelta((i // block) * block, unit="D"),
        "horizon_steps": i % block + 1,
        "target_time": days.dt.tz_convert("UTC"),
        "y_true": raw["Actual"].astype(float),
        "y_pred": raw[f"h={block}"].astype(float),
        "model": TFT,
    })


def block_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's figure per block length h: our rows and the TFT's, steps 1..h pooled."""
    first = table["origin"].min()
    out = []
    for h in HORIZONS:
        rows = pd.concat([block_scheme(table, h, first), tft_blocks(h, first)],
                         ignore_index=True)
        pooled = horizon_metrics(rows, pooled_steps=True)
        out.append(pooled.xs(h, level="horizon_steps").assign(horizon_steps=h))
    return pd.concat(out).reset_index().set_index(["model", "horizon_steps"])


def side_by_side(rolling: pd.DataFrame, blocks: pd.DataFrame) -> str:
    """One line per horizon: MAE / RMSE / MAPE of every model, both schemes."""
    lines = []
    for title, table in (("rolling origins (a forecast issued every day)", rolling),
                         ("paper's block scheme (steps 1..h pooled)", blocks)):
        lines.append(title)
        models = [m for m in (*MODELS, TFT) if m in table.index.get_level_values("model")]
        for h in HORIZONS:
            cells = [f"{m} {table.at[(m, h), 'mae']:.0f} / {table.at[(m, h), 'rmse']:.0f} / "
                     f"{100 * table.at[(m, h), 'mape']:.1f}% (n={table.at[(m, h), 'n']})"
                     for m in models]
            lines.append(f"  h={h:>2}: " + "; ".join(cells))
    return "\n".join(lines)


@pytest.mark.slow
def test_jiuzhaigou_paper_protocol(tmp_path: Path) -> None:
    series = _data()
    assert len(series) == 530 and series.notna().all()
    assert str(series.index[0].date()) == "2020-04-01"
    table = backtest_daily(series, horizons=range(1, 31), test_days=TEST_DAYS)
    ours = table[table["model"] == "lightgbm"]
    assert (ours["trained_to"] == "2021-06-14").all()  # time_idx 440, the paper's training end
    assert ours["p10"].notna().all() and (ours["p10"] <= ours["p90"]).all()

    paper = table[table["horizon_steps"].isin(HORIZONS)].drop(columns="trained_to")
    rolling = horizon_metrics(paper)
    blocks = block_metrics(table)
    meta = {"dataset": str(SERIES_CSV.name), "data_hash": data_hash(series),
            "protocol": "train time_idx <= 440 (2021-06-14), test the last 90 days",
            "paper_block_scheme": json.loads(blocks.reset_index().to_json(orient="records"))}
    files = write_report(tmp_path / "report", paper, title="Jiuzhaigou daily arrivals",
                         meta=meta, timezone=da.DEFAULT_TIMEZONE, interval_s=DAY_S,
                         model="lightgbm")
    print()
    print(format_table(rolling, model="lightgbm", interval_s=DAY_S))
    print(side_by_side(rolling, blocks))

    doc = json.loads(files.metrics_json.read_text(encoding="utf-8"))
    assert files.report_html.stat().st_size > 0 and files.predictions_csv.is_file()
    assert doc["horizons_steps"] == list(HORIZONS) and set(doc["models"]) == set(MODELS)
    for model in MODELS:
        for h in HORIZONS:  # horizon h scores the test days from day h on
            assert rolling.at[(model, h), "n"] == TEST_DAYS - h + 1
            assert blocks.at[(model, h), "n"] == TEST_DAYS  # every test day once
    for h, (mae, rmse) in SOURCE_MD_TFT.items():
        assert blocks.at[(TFT, h), "n"] == TEST_DAYS
        assert blocks.at[(TFT, h), "mae"] == pytest.approx(mae, abs=0.01)
        assert blocks.at[(TFT, h), "rmse"] == pytest.approx(rmse, abs=0.01)
    truth = tft_blocks(1, table["origin"].min()).set_index("target_time")["y_true"]
    ours_truth = ours[ours["horizon_steps"] == 1].set_index("target_time")["y_true"]
    pd.testing.assert_series_equal(truth, ours_truth, check_names=False, check_index_type=False)
