"""The hand-checked predictions table the evaluation tests share (24 rows, two models)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NAN = np.nan
T0 = pd.Timestamp("2024-01-01T00:00", tz="UTC")
# per series, per origin: (h=1, h=2)
TRUTH = {"A": [(10, 12), (12, NAN), (0, 8)], "B": [(0.5, 4), (4, 6), (6, 5)]}
PRED = {
    "lightgbm": {"A": [(11, 13), (10, 9), (1, 8)], "B": [(1.5, 4), (5, 6), (6, 2)]},
    "last_value": {"A": [(9, 9), (10, 10), (12, 12)], "B": [(0.5, 0.5), (4, 4), (6, NAN)]},
}
# lightgbm's intervals, same layout: ((p10, p90) at h=1, (p10, p90) at h=2)
BANDS = {"A": [((10.5, 11.5), (12, 14)), ((9, 13), (8, 10)), ((0, 2), (7, 9))],
         "B": [((1, 2), (3, 5)), ((4, 6), (6.5, 7)), ((5, 7), (1, 3))]}


def tiny() -> pd.DataFrame:
    """The hand-checked predictions table (24 rows)."""
    rows = []
    for model, preds in PRED.items():
        for series in ("A", "B"):
            for o in range(3):
                for j, h in enumerate((1, 2)):
                    lo, hi = BANDS[series][o][j] if model == "lightgbm" else (NAN, NAN)
                    rows.append({
                        "series": series, "origin": T0 + pd.Timedelta(hours=o),
                        "horizon_steps": h, "target_time": T0 + pd.Timedelta(hours=o + h),
                        "y_true": float(TRUTH[series][o][j]), "y_pred": float(preds[series][o][j]),
                        "p10": lo, "p90": hi, "model": model})
    return pd.DataFrame(rows)
