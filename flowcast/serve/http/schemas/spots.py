"""Scenic-spot forecasts, their day view, and the bureau's spot entries, as the API serves them
(``docs/http-api.md``, ``docs/alerts.md``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from flowcast.serve.http.schemas.alerts import Alert
from flowcast.serve.http.schemas.figures import LonLat, SpotFigures

_NULL = "null when unknown"


class SpotNow(BaseModel):
    """A spot's crowd over the last closed spot bucket."""

    visitors: float | None = Field(description="people inside; visitors")
    saturation: float | None = Field(description="visitors ÷ instantaneous capacity; fraction "
                                                 "(1 = full)")
    arrivals: float | None = Field(description="people through the gates in the bucket; arrivals")


class SpotForecastItem(BaseModel):
    """A spot's forecast at one horizon."""

    horizon_min: int = Field(description="how far ahead; minutes")
    valid_at: int = Field(description="issued_at plus the horizon; epoch milliseconds")
    visitors: float | None = Field(description="forecast people inside; visitors")
    saturation: float | None = Field(description="forecast visitors ÷ capacity; fraction")
    visitors_p10: float | None = Field(None, description="10 % quantile, only when the model has "
                                                         "intervals; visitors")
    visitors_p90: float | None = Field(None, description="90 % quantile, only when the model has "
                                                         "intervals; visitors")


class DayTomorrow(BaseModel):
    """Tomorrow's expected arrivals."""

    date: str = Field(description="tomorrow, local date (YYYY-MM-DD)")
    expected_arrivals: float | None = Field(description=f"expected arrivals; arrivals; {_NULL}")
    saturation: float | None = Field(description="expected arrivals ÷ daily capacity; fraction")
    reference_date: str | None = Field(description="the day whose total was taken")


class DayView(BaseModel):
    """Today's and tomorrow's arrivals against daily capacity (``docs/alerts.md``)."""

    date: str = Field(description="today: the local date of issued_at (YYYY-MM-DD)")
    arrivals_so_far: float | None = Field(description="arrivals since local midnight; arrivals")
    expected_arrivals: float | None = Field(description="expected over the whole day; arrivals")
    capacity_daily: float | None = Field(description="daily carrying capacity; arrivals per day")
    saturation: float | None = Field(description="expected_arrivals ÷ capacity_daily; fraction")
    reference_date: str | None = Field(description="the earlier day whose profile gave the rest "
                                                   "of today")
    tomorrow: DayTomorrow = Field(description="the next local day")
    method: str = Field(description='"same-day-type profile"')


class SpotForecast(BaseModel):
    """The spot forecast message of one spot (``flowcast.spot.forecasts``)."""

    spot: str = Field(description="spot id (the message key)")
    issued_at: int = Field(description="end of the closed bucket; epoch milliseconds")
    model: str = Field(description="what forecast")
    capacity_instant: float = Field(description="people allowed inside at once; visitors")
    now: SpotNow = Field(description="the crowd over the closed bucket")
    forecast: list[SpotForecastItem] = Field(description="one item per horizon, nearest first")
    day: DayView | None = Field(None, description="the day view; additive, older messages lack "
                                                  "it")


class SpotEntry(SpotFigures):
    """A spot of the city with its latest forecast and its figures."""

    spot: str = Field(description="spot id")
    name: str = Field(description="spot name")
    capacity_instant: float = Field(description="people allowed inside at once; visitors")
    capacity_daily: float = Field(description="daily carrying capacity; arrivals per day")
    warn: float = Field(description="warning threshold; fraction of capacity")
    critical: float = Field(description="critical threshold; fraction of capacity")
    lonlat: LonLat = Field(description="[lon, lat]; degrees (WGS 84)")
    alert_level: str | None = Field(description="warning or critical while an alert is active")
    forecast: SpotForecast | None = Field(description="the latest forecast; null before any")


class CurvePoint(BaseModel):
    """One issue time of today's curve."""

    issued_at: int = Field(description="issue time; epoch milliseconds")
    visitors: float | None = Field(description="people inside then; visitors")
    saturation: float | None = Field(description="saturation then; fraction of capacity")
    forecast_valid_at: int | None = Field(description="first horizon's time; epoch milliseconds")
    forecast_visitors: float | None = Field(description="first horizon's forecast; visitors")


class SpotDetail(SpotEntry):
    """``GET /api/spots/{spot}``: the entry plus today's curve and the active alert."""

    curve: list[CurvePoint] = Field(description="today's points (local day of the latest "
                                                "forecast), oldest first")
    alert: Alert | None = Field(description="the active alert, or null")


class Spots(BaseModel):
    """``GET /api/spots``: every spot of the city, in registry order."""

    spots: list[SpotEntry] = Field(description="one per spot of the city")
