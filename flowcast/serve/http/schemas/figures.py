"""A scenic spot's saturation figures, as spot entries, alerts and screens show them."""

from __future__ import annotations

from pydantic import BaseModel, Field

LonLat = tuple[float, float]
"""A point: [lon, lat] in degrees (WGS 84)."""


class SpotFigures(BaseModel):
    """A spot's figures from its latest forecast and today's curve (null when unknown)."""

    issued_at: int | None = Field(None, description="issue time of the latest forecast; epoch "
                                                    "milliseconds")
    saturation_now: float | None = Field(description="visitors ÷ instantaneous capacity now; "
                                                     "fraction (1 = full)")
    saturation_peak: float | None = Field(description="the highest of now and the forecast; "
                                                      "fraction of capacity")
    peak_at: int | None = Field(None, description="when that peak is (the issue time when it "
                                                  "is now); epoch milliseconds")
    forecast_peak: float | None = Field(None, description="the forecast's highest saturation "
                                                          "alone; fraction of capacity")
    forecast_peak_at: int | None = Field(None, description="its time; epoch milliseconds")
    day_high: float | None = Field(None, description="the highest saturation seen today; "
                                                     "fraction of capacity")
    day_high_at: int | None = Field(None, description="its time; epoch milliseconds")
    peak_passed: bool | None = Field(None, description="true when the forecast stays below "
                                                       "what today already saw")


class SentFigures(BaseModel):
    """The figures an alert message was sent with, from its CAP parameters."""

    saturation_now: float | None = Field(description="saturation then; fraction of capacity")
    saturation_peak: float | None = Field(description="forecast peak then; fraction of capacity")
    peak_at: int | None = Field(description="time of that peak; epoch milliseconds")
    threshold: float | None = Field(description="the alert's threshold; fraction of capacity")
