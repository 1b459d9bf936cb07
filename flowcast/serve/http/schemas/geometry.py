"""The city's drawable geometry: ``GET /api/city/geometry``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowcast.serve.http.schemas.figures import LonLat


class GeometrySegment(BaseModel):
    """A segment to draw."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(description="segment id")
    name: str = Field(description="road name")
    road_class: Literal["expressway", "arterial", "secondary", "branch"] = Field(
        alias="class", description="road class")
    region: str = Field(description="region id")
    length_m: float = Field(description="segment length; metres")
    coords: list[LonLat] = Field(description="polyline as [lon, lat] pairs; degrees (WGS 84)")


class GeometrySpot(BaseModel):
    """A scenic spot to draw."""

    id: str = Field(description="spot id")
    name: str = Field(description="spot name")
    lonlat: LonLat = Field(description="[lon, lat]; degrees (WGS 84)")


class GeometryRoute(BaseModel):
    """A screen's route as segment ids."""

    id: str = Field(description="route id")
    name: str = Field(description="route name")
    segments: list[str] = Field(description="segment ids along the route")


class GeometryScreen(BaseModel):
    """A guidance screen to draw."""

    id: str = Field(description="screen id")
    name: str = Field(description="screen name")
    destination: str = Field(description="where its routes lead")
    lonlat: LonLat = Field(description="[lon, lat]; degrees (WGS 84)")
    routes: list[GeometryRoute] = Field(description="its routes")


class CityGeometry(BaseModel):
    """``GET /api/city/geometry``: what the pages draw."""

    city: str = Field(description="city name")
    timezone: str = Field(description="IANA time zone of local times")
    bbox: list[float] = Field(description="[min lon, min lat, max lon, max lat]; degrees")
    regions: list[str] = Field(description="region ids")
    level_names: list[str] = Field(description="names of levels 1..5 (index 0 is level 1)")
    segments: list[GeometrySegment] = Field(description="every segment, registry order")
    spots: list[GeometrySpot] = Field(description="every scenic spot")
    screens: list[GeometryScreen] = Field(description="every guidance screen")
