"""The FastAPI application: JSON API, server-sent events, health, metrics and the two pages.

Read endpoints are public; the write endpoints (acknowledging an alert) are on a router whose
routes check ``Authorization: Bearer <http.token>`` before reading the body (``auth.py``).
Request bodies over ``http.max_body_bytes`` answer 413 (``limits.py``). Errors are JSON
``{"error": "<what is wrong and what to do>"}`` (validation errors add ``detail``).
``docs/http-api.md`` documents every endpoint. There is no ``/docs`` page (FastAPI's loads
Swagger UI from the internet); ``/openapi.json`` describes the API.

The JSON answers are documented by the models of :mod:`flowcast.serve.http.schemas`, declared
in each route's ``responses`` (``openapi.py``), not as its ``response_model``: a response model
would validate every answer (10,000 conditions at a time) and drop any field it does not
declare. The routes answer the view's messages as pydantic-core writes them, the serialiser
FastAPI uses, so the bytes are what a ``dict[str, Any]`` return type gave.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response, StreamingResponse

from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.serve.http.auth import bearer_route
from flowcast.serve.http.events import EventHub, current_state
from flowcast.serve.http.geometry import city_geometry
from flowcast.serve.http.limits import BodyLimit
from flowcast.serve.http.metrics import CONTENT_TYPE, MetricsPage
from flowcast.serve.http.openapi import EVENTS, METRICS, documented
from flowcast.serve.http.schemas.alerts import AckAnswer, Alert, Alerts
from flowcast.serve.http.schemas.common import Health, Ready
from flowcast.serve.http.schemas.geometry import CityGeometry
from flowcast.serve.http.schemas.roads import Condition, Conditions
from flowcast.serve.http.schemas.screens import Screen, Screens
from flowcast.serve.http.schemas.spots import SpotDetail, Spots
from flowcast.serve.view import LiveView

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
"""The pages' files (HTML, JS, CSS), one flat directory shipped as package data."""

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def json_bytes(content: Any) -> bytes:
    """``content`` as JSON, written by pydantic-core as FastAPI writes a route's answer."""
    return _ANY.dump_json(content)


def _json(content: Any) -> Response:
    return Response(json_bytes(content), media_type="application/json")


class AckRequest(BaseModel):
    """Body of ``POST /api/alerts/{identifier}/ack``."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="operator", min_length=1, max_length=100,
                    description="who acknowledges (a name or a desk)")
    note: str = Field(default="", max_length=1000, description="free text kept with it")


def create_app(view: LiveView, settings: Settings, *, metrics: Metrics | None = None,
               ready: Callable[[], bool] | None = None) -> FastAPI:
    """The application over ``view``. ``metrics``: rendered first at ``/metrics`` (the engine's
    counters); ``ready``: what ``/readyz`` asks (default: the view has its first condition).
    The SSE hub is ``app.state.hub`` (close it to end every stream before stopping)."""
    app = FastAPI(title="flowcast", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Road conditions, guidance-screen rankings, scenic-spot "
                              "forecasts and saturation alerts, live.")
    hub = EventHub(settings.http.sse_keepalive_s)
    view.add_listener(hub)
    app.state.hub = hub
    app.state.view = view
    is_ready = ready or view.ready.is_set
    _error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.http.max_body_bytes)
    app.include_router(_api(view, hub))
    app.include_router(_writes(view, settings.http.token))
    app.include_router(_operations(MetricsPage(view, hub, metrics), is_ready))
    app.include_router(_pages())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code,
                            headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")),
                   "type": str(e.get("type"))} for e in err.errors()]
        text = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in detail)
        return JSONResponse({"error": f"invalid request: {text}", "detail": detail},
                            status_code=422)


def _api(view: LiveView, hub: EventHub) -> APIRouter:
    router = APIRouter(prefix="/api")
    geometry = city_geometry(view.city)
    regions = set(geometry["regions"])
    segment_region = {s["id"]: s["region"] for s in geometry["segments"]}

    @router.get("/conditions", summary="Latest road condition of every segment",
                responses=documented(Conditions, "the conditions, registry order", 400, 422))
    def conditions(
        min_level: Annotated[int | None, Query(ge=1, le=5, description=
                                               "only segments at this level or worse now")] = None,
        region: Annotated[str | None, Query(description="only segments of this region")] = None,
    ) -> Response:
        if region is not None and region not in regions:
            raise HTTPException(400, f"region {region!r} is not in city {view.city.name!r}; "
                                     f"known regions: {', '.join(sorted(regions))}")
        items = view.conditions()
        if region is not None:
            items = [c for c in items if segment_region[c["segment"]] == region]
        if min_level is not None:
            items = [c for c in items if (c["now"].get("level") or 0) >= min_level]
        return _json({"count": len(items), "conditions": items})

    @router.get("/conditions/{segment}", summary="Latest road condition of one segment",
                responses=documented(Condition, "the segment's latest condition", 404, 422))
    def condition(segment: str) -> Response:
        if not view.has_segment(segment):
            raise HTTPException(404, f"segment {segment!r} is not in city {view.city.name!r}; "
                                     "GET /api/city/geometry lists the segments")
        found = view.condition(segment)
        if found is None:
            raise HTTPException(404, f"no condition for segment {segment!r} yet; the engine "
                                     "publishes one per closed bucket")
        return _json(found)

    @router.get("/screens", summary="Route rankings of every guidance screen",
                responses=documented(Screens, "every screen, registry order"))
    def screens() -> Response:
        return _json({"screens": view.screens()})

    @router.get("/screens/{screen_id}", summary="Route ranking of one guidance screen",
                responses=documented(Screen, "the screen's ranking", 404, 422))
    def screen(screen_id: str) -> Response:
        found = view.screen(screen_id)
        if found is None:
            known = ", ".join(s.id for s in view.city.screens) or "none"
            raise HTTPException(404, f"screen {screen_id!r} is not in city "
                                     f"{view.city.name!r}; known screens: {known}")
        return _json(found)

    @router.get("/spots", summary="Every scenic spot with its latest forecast",
                responses=documented(Spots, "every spot, registry order"))
    def spots() -> Response:
        return _json({"spots": view.spots()})

    @router.get("/spots/{spot}", summary="One spot: latest forecast and today's curve",
                responses=documented(SpotDetail, "the spot, its curve and its alert", 404,
                                     422))
    def spot(spot: str) -> Response:
        found = view.spot(spot)
        if found is None:
            raise HTTPException(404, f"spot {spot!r} is not in city {view.city.name!r}; "
                                     "GET /api/spots lists them")
        return _json(found)

    @router.get("/alerts", summary="Active saturation alerts (CAP 1.2 messages)",
                responses=documented(Alerts, "active alerts by spot (then cancelled ones)", 422))
    def alerts(include: Annotated[Literal["cancelled"] | None, Query(
            description="'cancelled': also recently cancelled alerts")] = None
               ) -> Response:
        return _json({"alerts": view.alerts(include_cancelled=include == "cancelled")})

    @router.get("/alerts/{identifier}", summary="One alert with its message history",
                responses=documented(Alert, "the alert holding that message", 404, 422))
    def alert(identifier: str) -> Response:
        found = view.alert(identifier)
        if found is None:
            raise HTTPException(404, f"no alert message {identifier!r} (active or recently "
                                     "cancelled)")
        return _json(found)

    geometry_json = json_bytes(geometry)  # it never changes: written once

    @router.get("/city/geometry", summary="Segments, spots and screens to draw",
                responses=documented(CityGeometry, "the city's drawable geometry"))
    def city() -> Response:
        return Response(geometry_json, media_type="application/json")

    @router.get("/events", summary="Server-sent events: every new message",
                response_class=StreamingResponse, responses=EVENTS)
    def events(once: Annotated[Literal["", "1", "true"] | None, Query(
            description="send the current state once, then an 'end' event, and close "
                        "(screenshots, headless browsers)")] = None) -> StreamingResponse:
        stream = hub.once(current_state(view)) if once is not None else hub.stream()
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    return router


def _writes(view: LiveView, token: str) -> APIRouter:
    """The endpoints that change state: each checks the bearer token before its body."""
    router = APIRouter(prefix="/api", route_class=bearer_route(token))

    @router.post("/alerts/{identifier}/ack",
                 summary="Acknowledge an alert (needs the bearer token)",
                 responses=documented(AckAnswer, "the acknowledgement and the alert after it",
                                      401, 404, 413, 422))
    def acknowledge(identifier: str, body: AckRequest | None = None) -> Response:
        body = body or AckRequest()
        try:
            ack = view.acknowledge(identifier, body.by, body.note)
        except KeyError:
            raise HTTPException(404, f"no alert message {identifier!r} to acknowledge (active "
                                     "or recently cancelled)") from None
        return _json({"ack": ack, "alert": view.alert(identifier)})

    return router


def _operations(page: MetricsPage, ready: Callable[[], bool]) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", summary="200 while the process lives",
                responses=documented(Health, "the process lives"))
    def healthz() -> Response:
        return _json({"status": "ok"})

    @router.get("/readyz", summary="200 once outputs flow, 503 before",
                responses=documented(Ready, "outputs flow", 503))
    def readyz() -> JSONResponse:
        ok = bool(ready())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=PlainTextResponse,
                summary="Prometheus text exposition", responses=METRICS)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(page.render(), media_type=CONTENT_TYPE)

    return router


def _pages() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse("/screen")

    @router.get("/favicon.ico")
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @router.get("/screen")
    def screen_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "screen.html", media_type="text/html")

    @router.get("/bureau")
    def bureau_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "bureau.html", media_type="text/html")

    return router
