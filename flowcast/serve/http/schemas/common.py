"""Health, readiness and the error bodies of every endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"] = Field(description="ok while the process lives")


class Ready(BaseModel):
    """``GET /readyz`` (200 when ready, 503 before)."""

    ready: bool = Field(description="outputs flow: the engine acknowledged its first outputs, "
                                    "or the view has its first condition, and the broker answers")


class ErrorBody(BaseModel):
    """Every 4xx answer."""

    error: str = Field(description="what is wrong and what to do")


class InvalidItem(BaseModel):
    """One validation problem."""

    loc: list[str] = Field(description="where: the request part, then the field")
    msg: str = Field(description="what is wrong")
    type: str = Field(description="pydantic's error type")


class InvalidRequest(ErrorBody):
    """A 422 answer: the request's parameters or body did not validate."""

    detail: list[InvalidItem] = Field(description="each problem")
