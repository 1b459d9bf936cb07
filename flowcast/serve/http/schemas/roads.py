"""Road conditions as the API serves them: the messages of ``flowcast.road.conditions``
(``docs/conditions.md``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Trend = Literal["improving", "steady", "worsening"]
Confidence = Literal["high", "medium", "low"]
LEVEL = "congestion level: 1 smooth, 2 basically smooth, 3 light, 4 moderate, 5 severe"



class ConditionNow(BaseModel):
    """A segment's conditions over the closed bucket."""

    speed: float | None = Field(description="mean speed of the segment's sensors over the "
                                            "bucket; km/h")
    level: int | None = Field(description=LEVEL)
    travel_time_s: float | None = Field(description="time to cross the segment at that speed; "
                                                    "seconds")
    flow: float | None = Field(description="vehicles per sensor in the bucket; vehicles")
    occupancy: float | None = Field(description="detector occupancy; fraction 0..1")
    imputed_share: float | None = Field(description="share of the segment's sensors whose value "
                                                    "was filled in, not measured; fraction 0..1")


class ConditionForecast(BaseModel):
    """A segment's forecast conditions at one horizon."""

    horizon_min: int = Field(description="how far ahead; minutes")
    valid_at: int = Field(description="issued_at plus the horizon; epoch milliseconds")
    speed: float | None = Field(description="forecast speed; km/h")
    level: int | None = Field(description=LEVEL)
    travel_time_s: float | None = Field(description="forecast travel time; seconds")
    speed_p10: float | None = Field(None, description="10 % quantile of the forecast speed, "
                                                      "only when the model has intervals; km/h")
    speed_p90: float | None = Field(None, description="90 % quantile of the forecast speed, "
                                                      "only when the model has intervals; km/h")
    trend: Trend | None = Field(description="against now, from the level, then the travel time")
    confidence: Confidence | None = Field(description="from the speed interval; null without "
                                                      "one")
    confidence_score: float | None = Field(description="0..1, higher is surer; null without an "
                                                       "interval")


class Condition(BaseModel):
    """The road condition message of one segment (``flowcast.road.conditions``)."""

    segment: str = Field(description="segment id (the message key)")
    issued_at: int = Field(description="end of the closed bucket the message was computed "
                                       "from; epoch milliseconds")
    model: str = Field(description="what forecast: lightgbm:<version> or baseline:<name>")
    trend: Trend | None = Field(description="the first horizon's trend")
    now: ConditionNow = Field(description="conditions over the closed bucket")
    forecast: list[ConditionForecast] = Field(description="one item per horizon, nearest first")


class Conditions(BaseModel):
    """``GET /api/conditions``: the latest condition of every segment, in registry order."""

    count: int = Field(description="number of conditions listed; segments")
    conditions: list[Condition] = Field(description="the latest condition of each segment "
                                                    "that has one, after the filters")
