"""``/openapi.json`` describes every JSON answer with its fields, their meaning and units (no
bare ``object``); the answers served match those descriptions and are the bytes FastAPI wrote
for a ``dict`` return type (documentation-only models: nothing validated, nothing filtered)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from live_harness import TOKEN
from pydantic import BaseModel

from flowcast.serve.http.schemas.alerts import AckAnswer, Alert, Alerts
from flowcast.serve.http.schemas.common import Health, Ready
from flowcast.serve.http.schemas.geometry import CityGeometry
from flowcast.serve.http.schemas.roads import Condition, Conditions
from flowcast.serve.http.schemas.screens import Screen, Screens
from flowcast.serve.http.schemas.spots import SpotDetail, Spots
from serve.http.served import Served

JSON_ROUTES = {
    ("get", "/api/conditions"): Conditions, ("get", "/api/conditions/{segment}"): Condition,
    ("get", "/api/screens"): Screens, ("get", "/api/screens/{screen_id}"): Screen,
    ("get", "/api/spots"): Spots, ("get", "/api/spots/{spot}"): SpotDetail,
    ("get", "/api/alerts"): Alerts, ("get", "/api/alerts/{identifier}"): Alert,
    ("post", "/api/alerts/{identifier}/ack"): AckAnswer,
    ("get", "/api/city/geometry"): CityGeometry, ("get", "/healthz"): Health,
    ("get", "/readyz"): Ready}
"""Every route that answers JSON, and the model that documents its 200 answer."""

Schema = dict[str, Any]


def _resolve(schema: Schema, spec: Schema) -> Schema:
    """``schema`` with its ``$ref`` followed into ``components.schemas``."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _vague(schema: Schema, spec: Schema, where: str, seen: set[str]) -> list[str]:
    """Where ``schema`` says too little: an object without properties (or typed values), an
    array of anything, a value of any type, a property without a description."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return []
        seen.add(schema["$ref"])
    node = _resolve(schema, spec)
    problems: list[str] = []
    for sub in node.get("anyOf", []) + node.get("allOf", []):
        problems += _vague(sub, spec, where, seen)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        if not props and not isinstance(extra, dict):
            problems.append(f"{where}: an object without properties")
        for name, sub in props.items():
            if not str(sub.get("description", "")).strip():
                problems.append(f"{where}.{name}: no description")
            problems += _vague(sub, spec, f"{where}.{name}", seen)
        if isinstance(extra, dict):
            problems += _vague(extra, spec, f"{where}.*", seen)
    elif kind == "array":
        items = node.get("prefixItems") or ([node["items"]] if "items" in node else [])
        if not items:
            problems.append(f"{where}: an array of anything")
        for sub in items:
            problems += _vague(sub, spec, f"{where}[]", seen)
    elif kind is None and not {"anyOf", "allOf", "enum", "const"} & node.keys():
        problems.append(f"{where}: any value")
    return problems


def _undocumented(value: Any, schema: Schema, spec: Schema, where: str) -> list[str]:
    """Keys of a served ``value`` that its schema does not list."""
    node = _resolve(schema, spec)
    if len(node.get("allOf", [])) == 1:
        node = _resolve(node["allOf"][0], spec)
    if "anyOf" in node:
        branches = [_resolve(s, spec) for s in node["anyOf"]]
        wanted = "object" if isinstance(value, dict) else "array" if isinstance(value, list) \
            else None
        node = next((b for b in branches if b.get("type") == wanted), {})
    problems: list[str] = []
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                problems += _undocumented(item, props[key], spec, f"{where}.{key}")
            elif isinstance(extra, dict):
                problems += _undocumented(item, extra, spec, f"{where}.{key}")
            else:
                problems.append(f"{where}.{key}")
    elif isinstance(value, list):
        items = node.get("prefixItems") or [node.get("items", {})] * len(value)
        for n, (item, sub) in enumerate(zip(value, items, strict=False)):
            problems += _undocumented(item, sub, spec, f"{where}[{n}]")
    return problems


@pytest.fixture(scope="module")
def spec(served: Served) -> Schema:
    return dict(served.client.get("/openapi.json").json())


def test_every_json_answer_is_described_field_by_field(spec: Schema) -> None:
    json_routes = {(method, path) for path, operations in spec["paths"].items()
                   for method, operation in operations.items()
                   if "application/json" in operation["responses"].get("200", {})
                   .get("content", {})}
    assert json_routes == set(JSON_ROUTES), "a new JSON route needs its model in JSON_ROUTES"
    for method, path in sorted(JSON_ROUTES):
        schema = spec["paths"][path][method]["responses"]["200"]["content"][
            "application/json"]["schema"]
        assert _resolve(schema, spec).get("properties"), f"{method} {path}: a bare object"
        assert _vague(schema, spec, f"{method} {path}", set()) == []


def test_errors_are_described_as_the_api_answers_them(spec: Schema) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 body, which this API never sends
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    body = response["content"]["application/json"]["schema"]["$ref"]
                    wanted = "InvalidRequest" if status == "422" else "ErrorBody"
                    assert body.endswith(f"/{wanted}"), (method, path, status)
    ack = spec["paths"]["/api/alerts/{identifier}/ack"]["post"]["responses"]
    assert {"200", "401", "404", "413", "422"} <= ack.keys()
    once = next(p for p in spec["paths"]["/api/events"]["get"]["parameters"]
                if p["name"] == "once")
    assert "current state" in once["description"]


def _answers(served: Served) -> dict[tuple[str, str], Any]:
    """A served answer of every JSON route (the acknowledgement made on the active alert)."""
    client, identifier = served.client, served.active[-1].identifier
    ack = client.post(f"/api/alerts/{identifier}/ack", json={"by": "schema test"},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    gets = {"/api/conditions": "/api/conditions", "/api/conditions/{segment}":
            "/api/conditions/G0001", "/api/screens": "/api/screens",
            "/api/screens/{screen_id}": "/api/screens/VMS01", "/api/spots": "/api/spots",
            "/api/spots/{spot}": "/api/spots/holiday-beach",
            "/api/alerts": "/api/alerts?include=cancelled",
            "/api/alerts/{identifier}": f"/api/alerts/{identifier}",
            "/api/city/geometry": "/api/city/geometry", "/healthz": "/healthz",
            "/readyz": "/readyz"}
    answers = {("get", route): client.get(url) for route, url in gets.items()}
    answers["post", "/api/alerts/{identifier}/ack"] = ack
    for key, response in answers.items():
        assert response.status_code == 200, (key, response.text)
    return {key: response.json() for key, response in answers.items()}


def test_served_answers_match_their_models(served: Served, spec: Schema) -> None:
    answers = _answers(served)
    assert answers.keys() == JSON_ROUTES.keys()
    for (method, path), body in answers.items():
        model: type[BaseModel] = JSON_ROUTES[method, path]
        model.model_validate(body)
        schema = spec["paths"][path][method]["responses"]["200"]["content"][
            "application/json"]["schema"]
        assert _undocumented(body, schema, spec, f"{method} {path}") == []
    spot = answers["get", "/api/spots/{spot}"]
    assert spot["curve"] and spot["alert"]["acks"]  # the nested parts were there to check


def test_answers_are_the_bytes_fastapi_wrote_for_a_dict(served: Served) -> None:
    """The routes answer what a ``dict[str, Any]`` return type gave before: same bytes."""
    plain = FastAPI()

    @plain.get("/conditions")
    def conditions() -> dict[str, Any]:
        items = served.view.conditions()
        return {"count": len(items), "conditions": items}

    @plain.get("/spots")
    def spots() -> dict[str, Any]:
        return {"spots": served.view.spots()}

    with TestClient(plain) as reference:
        for path in ("/conditions", "/spots"):
            expected = reference.get(path)
            got = served.client.get(f"/api{path}")
            assert got.content == expected.content, path
            assert got.headers["content-type"] == expected.headers["content-type"]
