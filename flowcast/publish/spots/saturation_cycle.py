"""The input of one spot saturation cycle: visitors now and forecast, and capacity, for all spots.

A :class:`SaturationCycle` is what the alert lifecycle (:mod:`.alerts`) reads each spot cycle,
built from a spot forecast (:meth:`SaturationCycle.from_forecasts`) or from the forecast
messages of the topic (:meth:`SaturationCycle.from_messages`); :mod:`.saturation` derives
the per-spot saturation, peak, levels and crossings from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from flowcast.publish.spots.forecasts import SpotForecasts

_MINUTE_MS = 60_000


@dataclass(frozen=True)
class SaturationCycle:
    """Visitors of ``K`` spots at one issue time: now ``(K,)`` and forecast ``(K, H)`` at the
    epoch-ms times ``valid_at_ms`` ``(H,)``; optional P10/P90 forecasts ``(K, H)``. NaN means
    unknown."""

    spot_ids: np.ndarray
    issued_at_ms: int
    valid_at_ms: np.ndarray
    visitors: np.ndarray
    forecast_visitors: np.ndarray
    capacity: np.ndarray
    forecast_p10: np.ndarray | None = None
    forecast_p90: np.ndarray | None = None

    def __post_init__(self) -> None:
        k, h = len(self.spot_ids), len(self.valid_at_ms)
        shapes = {"visitors": (k,), "capacity": (k,), "forecast_visitors": (k, h)}
        if self.forecast_p10 is not None:
            shapes["forecast_p10"] = (k, h)
        if self.forecast_p90 is not None:
            shapes["forecast_p90"] = (k, h)
        for name, shape in shapes.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"SaturationCycle.{name} has shape {got}, expected {shape}")

    @staticmethod
    def from_forecasts(f: SpotForecasts, p10: np.ndarray | None = None,
                       p90: np.ndarray | None = None) -> SaturationCycle:
        """The cycle of a spot forecast (what ``spot_forecast_messages`` publishes); the
        interval defaults to the forecast's ``forecast_p10``/``forecast_p90`` when it has them."""
        valid_at = f.issued_at_ms + np.asarray(f.horizons_min, dtype=np.int64) * _MINUTE_MS
        return SaturationCycle(
            spot_ids=np.asarray(f.spot_ids), issued_at_ms=int(f.issued_at_ms),
            valid_at_ms=valid_at, visitors=np.asarray(f.visitors, dtype=np.float64),
            forecast_visitors=np.asarray(f.forecast_visitors, dtype=np.float64),
            capacity=np.asarray(f.capacity_instant, dtype=np.float64),
            forecast_p10=p10 if p10 is not None else getattr(f, "forecast_p10", None),
            forecast_p90=p90 if p90 is not None else getattr(f, "forecast_p90", None))

    @staticmethod
    def from_messages(messages: Iterable[bytes | Mapping[str, Any]]) -> list[SaturationCycle]:
        """Cycles from spot forecast messages (raw JSON or decoded), one per issue time and
        horizon set, oldest first. Forecast items may carry ``visitors_p10``/``visitors_p90``."""
        groups: dict[tuple[int, tuple[int, ...]], list[dict[str, Any]]] = {}
        for raw in messages:
            message = orjson.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
            valid = tuple(int(item["valid_at"]) for item in message["forecast"])
            groups.setdefault((int(message["issued_at"]), valid), []).append(message)
        return [_cycle_of(issued, valid, group)
                for (issued, valid), group in sorted(groups.items())]


def _cycle_of(issued: int, valid: tuple[int, ...], group: list[dict[str, Any]]) -> SaturationCycle:
    def column(name: str) -> np.ndarray:
        return np.array([[_num(item.get(name)) for item in m["forecast"]] for m in group],
                        dtype=np.float64).reshape(len(group), len(valid))

    def optional(name: str) -> np.ndarray | None:
        present = all(name in item for m in group for item in m["forecast"])
        return column(name) if present else None

    return SaturationCycle(
        spot_ids=np.array([m["spot"] for m in group], dtype=object), issued_at_ms=issued,
        valid_at_ms=np.array(valid, dtype=np.int64),
        visitors=np.array([_num(m["now"].get("visitors")) for m in group], dtype=np.float64),
        forecast_visitors=column("visitors"),
        capacity=np.array([_num(m.get("capacity_instant")) for m in group], dtype=np.float64),
        forecast_p10=optional("visitors_p10"), forecast_p90=optional("visitors_p90"))


def _num(value: Any) -> float:
    return np.nan if value is None else float(value)
