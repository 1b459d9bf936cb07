"""Guidance-screen rankings as the API serves them, computed where they are served
(``docs/http-api.md`` "Guidance-screen ranking")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from flowcast.serve.http.schemas.roads import Confidence, Trend

Advice = Literal["take", "avoid", "alternative", "unknown", "full"]
_ADVICE = ("take (the best), avoid (clearly slower or jammed), alternative, unknown (no time)")


class RouteNow(BaseModel):
    """A route's travel time and level now."""

    travel_time_s: float | None = Field(description="sum of its segments' travel times (null "
                                                    "when one is unknown); seconds")
    level: int | None = Field(description="length-weighted mean of its segments' levels, never "
                                          "more than one better than the worst; 1..5")


class RouteForecast(BaseModel):
    """A route's forecast at one horizon."""

    horizon_min: int = Field(description="how far ahead; minutes")
    travel_time_s: float | None = Field(description="forecast route travel time; seconds")
    level: int | None = Field(description="forecast route level; 1..5")
    trend: Trend | None = Field(description="forecast time against now, past levels."
                                            "trend_tolerance (10 %)")
    confidence: Confidence | None = Field(description="the lowest of its segments' labels when "
                                                      "every segment has one, else null")


class Route(BaseModel):
    """One route of a screen, ranked (or not ranked yet: rank, now and advice null)."""

    route: str = Field(description="route id")
    name: str = Field(description="route name as the screen shows it")
    rank: int | None = Field(description="1 = best, by travel time at the first horizon, then "
                                         "now; null before the first ranking")
    segments: list[str] = Field(description="segment ids along the route, in driving order")
    length_m: float | None = Field(None, description="route length; metres")
    now: RouteNow | None = Field(description="travel time and level now")
    forecast: list[RouteForecast] = Field(description="one item per horizon")
    trend: Trend | None = Field(None, description="the first horizon's trend")
    advice: Advice | None = Field(description=f"what the screen says: {_ADVICE}, or full (the "
                                              "destination is full when the route gets there)")
    road_advice: Advice | None = Field(None, description=f"what the roads alone say: {_ADVICE}")


class DestinationAlert(BaseModel):
    """The destination spot's active alert, in short."""

    identifier: str = Field(description="the alert's first Alert identifier")
    level: str | None = Field(description="warning or critical")
    onset_at: int | None = Field(description="threshold crossing; epoch milliseconds")


class Alternative(BaseModel):
    """A spot to go to instead."""

    spot: str = Field(description="spot id")
    name: str = Field(description="spot name")
    saturation: float | None = Field(description="its forecast peak; fraction of capacity")
    suggested_by: Literal["alert", "forecast"] = Field(
        description="alert: named by the active alert; forecast: the least full now")


class DestinationSpot(BaseModel):
    """How full a screen's destination spot is, from when, and where to go instead."""

    spot: str = Field(description="spot id")
    name: str = Field(description="spot name")
    state: Literal["full", "busy", "ok", "unknown"] = Field(
        description="full: at its capacity (critical); busy: at its warning threshold")
    limit_from: int | None = Field(description="when entry limits start; epoch milliseconds")
    saturation_now: float | None = Field(description="saturation now; fraction of capacity")
    saturation_peak: float | None = Field(description="highest of now and the forecast; "
                                                      "fraction of capacity")
    peak_at: int | None = Field(description="when that peak is; epoch milliseconds")
    alert: DestinationAlert | None = Field(description="the spot's active alert, or null")
    notice: str | None = Field(description="what the sign says about the destination")
    alternatives: list[Alternative] = Field(description="spots with room, best first")
    instead: str | None = Field(description="what the sign suggests instead")


class Screen(BaseModel):
    """A guidance screen's route ranking, computed where it is served."""

    screen: str = Field(description="screen id")
    name: str = Field(description="screen name")
    destination: str = Field(description="where its routes lead")
    issued_at: int | None = Field(description="issue time of the conditions ranked; epoch "
                                              "milliseconds; null before the first ranking")
    routes: list[Route] = Field(description="best first once ranked")
    destination_spot: DestinationSpot | None = Field(
        None, description="the destination's status when it is a scenic spot, else null")


class Screens(BaseModel):
    """``GET /api/screens``: every screen of the city, in registry order."""

    screens: list[Screen] = Field(description="one per screen of the city")
