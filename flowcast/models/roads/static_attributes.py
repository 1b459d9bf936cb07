"""Static road attributes of sensors (road class, lanes, free-flow speed, length) as a table.

The table is ``(N, 4)`` float32 in :data:`~flowcast.models.roads.feature_spec.STATIC_NAMES`
order, NaN where unknown; it comes from the city registry, or from a dataset's coordinates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowcast.city import ROAD_CLASSES, City
from flowcast.models.roads.feature_spec import STATIC_NAMES

if TYPE_CHECKING:
    import xarray as xr


def static_table(city: City, sensors: np.ndarray | None = None) -> np.ndarray:
    """Static attributes of ``sensors`` (global indices, default all) from the registry,
    ``(N, 4)`` float32 in :data:`STATIC_NAMES` order."""
    held = np.arange(city.n_sensors) if sensors is None else np.asarray(sensors, np.int64)
    seg = city.sensor_segment[held]
    return np.stack([city.segment_class[seg], city.segment_lanes[seg],
                     city.segment_free_flow_kmh[seg], city.segment_length_m[seg]],
                    axis=1).astype(np.float32)


def static_from_dataset(ds: xr.Dataset, ids: np.ndarray, city: City | None) -> np.ndarray:
    """The static table of a dataset's sensors ``ids``: from ``city`` (matched by sensor id)
    where it knows them, overridden by the dataset's coordinates named like
    :data:`STATIC_NAMES` (``road_class`` as a name or a code), NaN elsewhere."""
    out = np.full((len(ids), len(STATIC_NAMES)), np.nan, np.float32)
    if city is not None:
        idx = city.sensor_index(ids)
        known = idx >= 0
        out[known] = static_table(city, idx[known])
    for k, name in enumerate(STATIC_NAMES):
        if name not in ds.coords:
            continue
        raw = np.asarray(ds[name].values)
        if name == "road_class" and raw.dtype.kind in "USO":
            code = pd.Index(ROAD_CLASSES).get_indexer(raw.astype(str))
            out[:, k] = np.where(code >= 0, code, np.nan)
        else:
            out[:, k] = raw.astype(np.float32)
    return out
