"""Daily arrivals: CSV reading, leak-free features, the LightGBM forecaster's artifact, and the
backtest against the baselines (China's holiday blocks: tests/models/test_calendar.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.daily_backtest import backtest_daily, baseline_rows, block_scheme
from flowcast.evaluation.metrics import horizon_metrics
from flowcast.models.calendar import calendar_for, calendar_frame
from flowcast.models.daily import features as dfe
from flowcast.models.daily import forecaster as da
from flowcast.models.daily.data import check_daily_series, data_hash, read_daily_csv
from flowcast.models.daily.model_dir import FORMAT, MODEL_FILE

FAST = da.DailyConfig(max_rounds=200, early_stopping=20)
HORIZONS = (1, 7, 30)


def synthetic(start: str = "2023-01-01", end: str = "2025-11-30", seed: int = 3) -> pd.Series:
    """Daily arrivals with a weekly pattern (weekends x1.8), holiday blocks (Golden Week x3.5,
    other holidays x2.2, make-up working days x0.8), a slow seasonal wave and 8 % noise."""
    days = pd.date_range(start, end, freq="D", name="date")
    cal = calendar_frame(days)
    rng = np.random.default_rng(seed)
    weekly = np.where(cal["cal_dow"] >= 5, 1.8, 1.0)
    holiday = np.where(cal["cal_golden_week"] == 1, 3.5,
                       np.where(cal["cal_in_block"] == 1, 2.2, 1.0))
    holiday = np.where(cal["cal_makeup"] == 1, 0.8, holiday)
    season = 1.0 + 0.3 * np.sin(2 * np.pi * days.day_of_year.to_numpy() / 365.25)
    values = 3000 * weekly * holiday * season * rng.lognormal(0.0, 0.08, len(days))
    return pd.Series(np.round(values), index=days, name="spot-a")


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return synthetic()


@pytest.fixture(scope="module")
def model(series: pd.Series) -> da.DailyArrivalsModel:
    return da.fit(series, HORIZONS, FAST, train_end="2025-08-31")


# --- reading a CSV -------------------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spot.csv"
    path.write_text(text, encoding="utf-8")
    return path


def rows(n: int, start: str = "2021-06-01") -> list[str]:
    days = pd.date_range(start, periods=n, freq="D")
    return [f"{d.year}/{d.month}/{d.day},{1000 + i},Jiuzhaigou" for i, d in enumerate(days)]


def test_csv_in_the_paper_layout_reads_into_a_gap_free_series(tmp_path: Path) -> None:
    lines = rows(20)
    del lines[5]  # a missing day becomes NaN, not 0
    path = write(tmp_path, "date,tourist,destination\n" + "\n".join(lines) + "\n")
    s = read_daily_csv(path)
    assert s.name == "Jiuzhaigou"
    assert len(s) == 20 and s.index.freqstr == "D"
    assert np.isnan(s.iloc[5]) and s.iloc[6] == 1006.0
    assert s.index[0] == pd.Timestamp("2021-06-01")


@pytest.mark.parametrize(("body", "message"), [
    ("date,tourist\n2021/6/1,100\n2021/6/x,120\n", "line 3: date '2021/6/x' is not a date"),
    ("date,tourist\n2021/6/1,100\n2021/6/2,lots\n", "line 3: tourist 'lots' is not a number"),
    ("date,tourist\n2021/6/1,100\n2021/6/2,-5\n", "line 3 has a negative count"),
    ("date,visits\n2021/6/1,100\n", "no arrivals column"),
    ("when,tourist\n2021/6/1,100\n", "no date column"),
    ("date,tourist\n2021/6/1,100\n2021/6/1,120\n", "repeats the date 2021-06-01"),
    ("date,tourist\n2021/6/1,100\n2021/6/2,120\n", "needs at least 14"),
    ("", "not a readable CSV"),
])
def test_bad_csv_gets_one_clear_user_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(FlowcastUserError, match=re.escape(message)):
        read_daily_csv(write(tmp_path, body))


def test_missing_file_and_bad_series_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(FlowcastUserError, match="does not exist"):
        read_daily_csv(tmp_path / "nope.csv")
    with pytest.raises(FlowcastUserError, match="time of day"):
        check_daily_series(pd.Series(1.0, index=pd.date_range("2021-01-01 08:00", periods=20)))
    with pytest.raises(FlowcastUserError, match="indexed by dates"):
        check_daily_series(pd.Series(np.ones(20)))


def test_zeros_can_be_declared_missing(tmp_path: Path) -> None:
    lines = rows(20)
    lines[3] = "2021/6/4,0,Jiuzhaigou"
    path = write(tmp_path, "date,tourist,destination\n" + "\n".join(lines) + "\n")
    assert read_daily_csv(path).iloc[3] == 0.0
    assert np.isnan(read_daily_csv(path, zero_is_missing=True).iloc[3])


def test_data_hash_follows_the_values(series: pd.Series) -> None:
    changed = series.copy()
    changed.iloc[100] += 1
    assert data_hash(series) == data_hash(series.copy())
    assert data_hash(series) != data_hash(changed)


# --- features: no future ---------------------------------------------------------------------

@pytest.mark.parametrize("horizon", [1, 3, 7, 15, 30])
def test_features_at_t_ignore_every_day_after_t(series: pd.Series, horizon: int) -> None:
    origins = np.array([40, 200, 500, 700])
    cal = calendar_for(series.index, horizon)
    before, anchor = dfe.feature_matrix(dfe.History(series.to_numpy()), cal, series.index[0],
                                        origins, horizon)
    rng = np.random.default_rng(0)
    for t, row, a in zip(origins, before, anchor, strict=True):
        perturbed = series.to_numpy().copy()
        perturbed[t + 1:] = rng.uniform(0, 1e6, len(perturbed) - t - 1)
        perturbed[t + 1 + rng.integers(0, 20, 5)] = np.nan
        after, anchor2 = dfe.feature_matrix(dfe.History(perturbed), cal, series.index[0],
                                            np.array([t]), horizon)
        np.testing.assert_array_equal(after[0], row)
        assert anchor2[0] == a


def test_forecasts_at_t_ignore_every_day_after_t(model: da.DailyArrivalsModel,
                                                 series: pd.Series) -> None:
    t = 960
    changed = series.copy()
    changed.iloc[t + 1:] = changed.iloc[t + 1:] * 10
    a = da.predict_at(model, series, np.array([t]))
    b = da.predict_at(model, changed, np.array([t]))
    cols = ["y_pred", "p10", "p90"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert (a["y_true"] != b["y_true"]).all()  # the truth did change, the forecast did not


def test_lags_and_same_weekday_point_where_documented() -> None:
    values = np.arange(1.0, 61.0)
    history = dfe.History(values)
    days = pd.date_range("2024-03-01", periods=60)
    cal = calendar_for(days, 10)
    X, a = dfe.feature_matrix(history, cal, days[0], np.array([49]), 10)
    f = dict(zip(dfe.FEATURES, X[0], strict=True))
    x = np.log1p(values)
    assert a[0] == pytest.approx(x[43:50].mean())  # 7-day anchor for h >= 7
    assert f["lag_1"] == pytest.approx(x[49] - a[0])  # lag 1 = the issue day
    assert f["lag_7"] == pytest.approx(x[43] - a[0])
    assert f["same_wd_1"] == pytest.approx(x[49 + 10 - 14] - a[0])  # 2 weeks back
    _, a1 = dfe.feature_matrix(history, cal, days[0], np.array([49]), 1)
    assert a1[0] == pytest.approx(x[49])  # 1-day anchor for h = 1


# --- the model artifact -------------------------------------------------------------------------

def test_predict_gives_one_row_per_horizon_with_ordered_bounds(
        model: da.DailyArrivalsModel, series: pd.Series) -> None:
    out = model.predict(series.loc[:"2025-09-30"])
    assert out["horizon_steps"].tolist() == list(HORIZONS)
    assert (out["origin"] == pd.Timestamp("2025-09-30", tz="Asia/Shanghai")).all()
    assert out.loc[0, "target_time"] == pd.Timestamp("2025-10-01", tz="Asia/Shanghai")
    assert out["y_true"].isna().all() and (out["y_pred"] > 0).all()
    assert (out["p10"] <= out["y_pred"]).all() and (out["y_pred"] <= out["p90"]).all()


def test_quantiles_never_cross_over_many_origins(model: da.DailyArrivalsModel,
                                                 series: pd.Series) -> None:
    out = da.predict_at(model, series, np.arange(30, len(series) - 31))
    assert out["p10"].notna().all()
    assert (out["p10"] <= out["y_pred"]).all() and (out["y_pred"] <= out["p90"]).all()


def test_save_and_load_give_identical_forecasts_and_metadata(
        model: da.DailyArrivalsModel, series: pd.Series, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    loaded = da.load(tmp_path / "m")
    history = series.loc[:"2025-09-20"]
    pd.testing.assert_frame_equal(model.predict(history), loaded.predict(history))
    meta = json.loads((tmp_path / "m" / MODEL_FILE).read_text())
    assert meta["format"] == FORMAT and meta["horizons"] == list(HORIZONS)
    assert meta["features"] == list(dfe.FEATURES)
    assert meta["training_span"] == {"first_day": "2023-01-01", "last_day": "2025-08-31",
                                     "days": 974, "days_with_count": 974}
    assert meta["data_hash"] == data_hash(series.loc[:"2025-08-31"])
    assert meta["library_versions"]["lightgbm"] == lgb.__version__
    assert meta["version"] == model.version == loaded.version
    assert meta["version"].startswith("daily-")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(
        [MODEL_FILE, *meta["files"]])
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_same_data_same_version(series: pd.Series) -> None:
    a = da.fit(series.iloc[:400], (1,), FAST)
    b = da.fit(series.iloc[:400], (1,), FAST)
    c = da.fit(series.iloc[:401], (1,), FAST)
    assert a.version == b.version != c.version


def saved(model: da.DailyArrivalsModel, tmp_path: Path) -> Path:
    return model.save(tmp_path / "m")


def edit_meta(root: Path, **changes: object) -> None:
    path = root / MODEL_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_a_model_with_another_feature_spec_is_refused(model: da.DailyArrivalsModel,
                                                      tmp_path: Path) -> None:
    root = saved(model, tmp_path)
    edit_meta(root, features=[*dfe.FEATURES[:-1], "visitors_tomorrow"])
    with pytest.raises(da.DailyModelError, match=r"another feature spec.*retrain"):
        da.load(root)


def test_other_format_or_library_or_damaged_file_is_refused(model: da.DailyArrivalsModel,
                                                            tmp_path: Path) -> None:
    root = saved(model, tmp_path)
    edit_meta(root, format="flowcast-daily-arrivals/0")
    with pytest.raises(da.DailyModelError, match="this flowcast reads"):
        da.load(root)
    shutil.rmtree(root)
    root = saved(model, tmp_path)
    edit_meta(root, library_versions={"lightgbm": "3.3.5"})
    with pytest.raises(da.DailyModelError, match=r"LightGBM 3\.x"):
        da.load(root)
    shutil.rmtree(root)
    root = saved(model, tmp_path)
    path = root / "h007_point.txt"
    path.write_text(path.read_text().replace("learning_rate", "learning_rate ", 1))
    with pytest.raises(da.DailyModelError, match="SHA-256 mismatch"):
        da.load(root)
    path.unlink()
    with pytest.raises(da.DailyModelError, match=r"lacks h007_point\.txt"):
        da.load(root)
    with pytest.raises(da.DailyModelError, match=r"holds no model\.json"):
        da.load(tmp_path / "elsewhere")


def test_wrong_horizon_or_spot_is_refused(model: da.DailyArrivalsModel,
                                          series: pd.Series) -> None:
    with pytest.raises(da.DailyModelError, match=r"no booster for horizon\(s\) \[2\]"):
        model.predict(series, horizons=[1, 2])
    with pytest.raises(da.DailyModelError, match="trained for spot 'spot-a'"):
        model.predict(series.rename("spot-b"))
    gap = series.copy()
    gap.iloc[-7:] = np.nan
    with pytest.raises(da.DailyModelError, match="no count in the 7 days"):
        model.predict(gap)
    with pytest.raises(da.DailyModelError, match="between 1 and 366"):
        da.fit(series, (0, 1))


# --- backtest ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def backtest(series: pd.Series) -> pd.DataFrame:
    return backtest_daily(series, horizons=range(1, 8), test_days=90, config=FAST)


def test_backtest_rows_follow_the_protocol(backtest: pd.DataFrame, series: pd.Series) -> None:
    counts = backtest.groupby(["model", "horizon_steps"]).size().unstack()
    assert set(counts.index) == {"lightgbm", "last_value", "historical_average",
                                 "seasonal_naive"}
    for h in range(1, 8):  # horizon h scores the last 90 - h + 1 days
        assert (counts[h] == 90 - h + 1).all()
    first_test = pd.Timestamp(series.index[-90], tz="Asia/Shanghai")
    assert backtest["target_time"].min() == first_test
    ours = backtest[backtest["model"] == "lightgbm"]
    assert (ours["trained_to"] == str(series.index[-91].date())).all()
    truth = series.loc[ours["target_time"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)]
    np.testing.assert_array_equal(ours["y_true"].to_numpy(), truth.to_numpy())


def test_baselines_read_the_documented_days(series: pd.Series) -> None:
    t = 500
    out = baseline_rows(series, np.array([t]), [1, 9]).set_index(["model", "horizon_steps"])
    v = series.to_numpy()
    assert out.at[("last_value", 1), "y_pred"] == v[t]
    assert out.at[("seasonal_naive", 1), "y_pred"] == v[t + 1 - 7]
    assert out.at[("seasonal_naive", 9), "y_pred"] == v[t + 9 - 14]
    assert out.at[("historical_average", 1), "y_pred"] == pytest.approx(
        np.mean(v[[t - 6, t - 13, t - 20, t - 27]]))


def test_the_model_beats_seasonal_naive_on_a_weekly_and_holiday_pattern(
        backtest: pd.DataFrame) -> None:
    table = horizon_metrics(backtest)  # the test span holds National Day's Golden Week
    for h in (1, 7):
        ours, naive = table.loc[("lightgbm", h)], table.loc[("seasonal_naive", h)]
        assert ours["mae"] < 0.5 * naive["mae"] and ours["rmse"] < 0.5 * naive["rmse"]


def test_block_scheme_predicts_each_test_day_once(backtest: pd.DataFrame) -> None:
    blocks = block_scheme(backtest, 7)
    per_model = blocks.groupby("model")["target_time"]
    assert (per_model.nunique() == 90).all() and (per_model.size() == 90).all()
    starts = blocks["origin"].drop_duplicates().sort_values()
    assert (starts.diff().dropna() == pd.Timedelta(days=7)).all()
    assert blocks["horizon_steps"].max() == 7
    with pytest.raises(da.DailyModelError, match=r"needs every horizon 1\.\.8"):
        block_scheme(backtest, 8)


def test_refit_every_k_days_trains_only_on_the_past(series: pd.Series) -> None:
    table = backtest_daily(series.iloc[:500], horizons=(1,), test_days=20, refit_every=10,
                           config=da.DailyConfig(intervals=False, max_rounds=50))
    ours = table[table["model"] == "lightgbm"]
    trained = pd.to_datetime(ours["trained_to"]).dt.tz_localize("Asia/Shanghai")
    assert trained.nunique() == 2
    assert (trained <= ours["origin"]).all()
    assert ours["p10"].isna().all()
