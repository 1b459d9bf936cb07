"""The predictions table's contract: normalised on the way in, every breach named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from predictions_harness import T0, tiny

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.predictions import PredictionsError, validate_predictions


def test_validate_normalises_dtypes_and_order() -> None:
    df = tiny().drop(columns=["model"]).iloc[:12]
    df["series"] = np.where(df["series"] == "A", 90217, 90218)  # integer road ids
    df["origin"] = df["origin"].dt.tz_convert("Asia/Shanghai")
    df["fold"] = 1  # extra columns are kept, at the end
    out = validate_predictions(df)
    assert list(out.columns) == ["series", "origin", "horizon_steps", "target_time", "y_true",
                                 "y_pred", "p10", "p90", "model", "fold"]
    assert set(out["series"]) == {"90217", "90218"}
    assert str(out["origin"].dtype) == "datetime64[ns, UTC]"
    assert out["origin"].iloc[0] == T0
    assert set(out["model"]) == {"model"}


def _break(change: str) -> pd.DataFrame:
    df = tiny()
    if change == "no y_pred":
        return df.drop(columns=["y_pred"])
    if change == "naive":
        return df.assign(origin=df["origin"].dt.tz_localize(None))
    if change == "text times":
        return df.assign(target_time=df["target_time"].astype(str))
    if change == "p10 only":
        return df.drop(columns=["p90"])
    if change == "crossed":
        return df.assign(p10=df["p90"] + 1)
    if change == "duplicate":
        return pd.concat([df, df.iloc[:1]])
    if change == "horizon 0":
        return df.assign(horizon_steps=df["horizon_steps"] - 1)
    if change == "float horizon":
        return df.assign(horizon_steps=df["horizon_steps"] * 1.0)
    if change == "inf":
        return df.assign(y_pred=df["y_pred"].replace(9.0, np.inf))
    if change == "no series":
        return df.assign(series=df["series"].where(df["series"] == "A", None))
    raise AssertionError(change)


@pytest.mark.parametrize(("change", "message"), [
    ("no y_pred", "lack column.*y_pred"),
    ("naive", "origin has no time zone"),
    ("text times", "target_time must be datetime64 with a time zone"),
    ("p10 only", "p10 without its partner"),
    ("crossed", "p10 exceeds p90 in 12 row"),
    ("duplicate", "1 duplicated"),
    ("horizon 0", "horizon_steps must be >= 1"),
    ("float horizon", "horizon_steps must be integers"),
    ("inf", "y_pred has 3 infinite"),  # the three 9.0 forecasts
    ("no series", "series is missing in 12 row"),
])
def test_validate_names_the_problem(change: str, message: str) -> None:
    with pytest.raises(PredictionsError, match=message) as caught:
        validate_predictions(_break(change))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, FlowcastUserError)
