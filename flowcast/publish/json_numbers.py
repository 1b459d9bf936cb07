"""Arrays of numbers as JSON-ready Python values: rounded, NaN as null.

The output messages (road conditions, spot forecasts) convert whole arrays at once with
:func:`json_numbers` rather than one value at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def json_numbers(values: np.ndarray, decimals: int) -> list[Any]:
    """Rounded Python floats (nested lists for 2-D input), NaN as None (JSON null). One
    conversion for the whole array; the NaN pass runs only when there is a NaN."""
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    nan = np.isnan(rounded)
    if not nan.any():
        return rounded.tolist()
    cells = rounded.astype(object)
    cells[nan] = None
    return cells.tolist()
