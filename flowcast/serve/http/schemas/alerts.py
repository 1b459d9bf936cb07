"""Saturation alerts as the API serves them: CAP 1.2 messages, the episodes that group them,
and acknowledgements (``docs/alerts.md``, ``docs/http-api.md``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from flowcast.serve.http.schemas.figures import SentFigures, SpotFigures

MsgType = Literal["Alert", "Update", "Cancel"]
_TIME = "ISO 8601 with the city's UTC offset, whole seconds (CAP dateTime)"


class CapParameter(BaseModel):
    """One CAP ``info.parameter``: spotId, level, threshold, saturationNow, saturationPeak,
    peakTime, capacity, and saturationPeakP10/P90 with an interval."""

    valueName: str = Field(description="parameter name")
    value: str = Field(description="its value, a string as in CAP (saturations are fractions "
                                   "of capacity, capacity is visitors)")


class CapArea(BaseModel):
    """The area a CAP message concerns: the spot."""

    areaDesc: str = Field(description="the spot's name")
    circle: str | None = Field(None, description='"lat,lon radius"; degrees, radius km (0)')


class CapInfo(BaseModel):
    """The ``info`` block of a saturation alert."""

    language: str = Field(description="language of the texts (en-US)")
    category: str = Field(description="CAP category (Safety)")
    event: str = Field(description="Scenic spot saturation")
    urgency: Literal["Immediate", "Expected", "Future", "Past"] = Field(
        description="Immediate: over the threshold now; Expected: crossing within 2 h; Future: "
                    "later; Past: a Cancel")
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"] = Field(
        description="Moderate: warning; Severe: critical; Minor: a Cancel")
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"] = Field(
        description="Observed: over now; else from the interval or the time to the crossing")
    onset: str = Field(description=f"when the forecast crosses the threshold; {_TIME}")
    expires: str = Field(description=f"the spot's closing time that day; {_TIME}")
    headline: str = Field(description="plain-words headline")
    instruction: str = Field(description="what to do, naming spots with spare capacity")
    parameter: list[CapParameter] = Field(description="the figures behind the alert")
    area: list[CapArea] = Field(description="the spot")


class CapMessage(BaseModel):
    """A CAP 1.2 message as JSON, as published on ``flowcast.spot.alerts``."""

    identifier: str = Field(description="flowcast-<spot>-<issue ms of the episode's Alert>-<n>")
    sender: str = Field(description="alerts.sender")
    sent: str = Field(description=f"the cycle's issue time; {_TIME}")
    status: str = Field(description="Actual")
    msgType: MsgType = Field(description="Alert, then Updates, then Cancel")
    scope: str = Field(description="Public or Restricted")
    restriction: str | None = Field(None, description="who may see it, when Restricted")
    references: str | None = Field(None, description="Update and Cancel: sender,identifier,sent "
                                                     "of the episode's Alert")
    info: CapInfo = Field(description="the alert's content")


class HistoryLine(BaseModel):
    """One message of an episode, summarised."""

    identifier: str = Field(description="the message's identifier")
    msgType: MsgType = Field(description="Alert, Update or Cancel")
    sent: str | None = Field(description=_TIME)
    sent_at: int | None = Field(None, description="the same; epoch milliseconds")
    level: str | None = Field(description="warning or critical (on a Cancel: the level cancelled)")
    headline: str | None = Field(description="the message's headline")
    saturationPeak: str | None = Field(description="forecast peak saturation; fraction of "
                                                   "capacity, as a string")


class Ack(BaseModel):
    """An operator's acknowledgement, kept in the serving process's memory."""

    identifier: str = Field(description="the identifier acknowledged (any message of the alert)")
    alert: str = Field(description="the episode's first Alert identifier")
    message: str = Field(description="the episode's latest message when acknowledged")
    spot: str = Field(description="spot id")
    by: str = Field(description="who acknowledged")
    note: str = Field(description="free text")
    at: int = Field(description="when; epoch milliseconds")


class Alert(BaseModel):
    """One alert episode (Alert, Update..., Cancel) of a spot, summarised from its latest
    message."""

    spot: str = Field(description="spot id")
    spot_name: str = Field(description="spot name")
    identifier: str = Field(description="the episode's first Alert identifier")
    latest: str = Field(description="the newest message's identifier")
    msgType: MsgType = Field(description="the newest message's type")
    status: Literal["active", "cancelled", "replaced"] = Field(
        description="replaced: a new Alert arrived without a Cancel")
    sent: str | None = Field(description=f"the newest message's sent time; {_TIME}")
    level: str | None = Field(description="warning or critical")
    severity: str | None = Field(description="CAP severity of the newest message")
    urgency: str | None = Field(description="CAP urgency of the newest message")
    certainty: str | None = Field(description="CAP certainty of the newest message")
    onset: str | None = Field(description=f"threshold crossing; {_TIME}")
    expires: str | None = Field(description=f"expiry; {_TIME}")
    headline: str | None = Field(description="the newest headline")
    instruction: str | None = Field(description="the newest instruction")
    parameters: dict[str, str] = Field(description="CAP info.parameter as {valueName: value}")
    sent_at: int | None = Field(None, description="sent; epoch milliseconds")
    onset_at: int | None = Field(None, description="onset; epoch milliseconds")
    expires_at: int | None = Field(None, description="expires; epoch milliseconds")
    figures: SentFigures | None = Field(None, description="the figures the newest message was "
                                                          "sent with")
    current: SpotFigures | None = Field(None, description="the spot's figures now")
    acknowledged: bool = Field(description="whether the newest message was acknowledged")
    acks: list[Ack] = Field(description="every acknowledgement, oldest first")
    history: list[HistoryLine] = Field(description="one line per message, oldest first")
    messages: list[CapMessage] = Field(description="the full CAP messages, oldest first")


class Alerts(BaseModel):
    """``GET /api/alerts``: active alerts by spot, then recently cancelled ones, newest first."""

    alerts: list[Alert] = Field(description="alert episodes")


class AckAnswer(BaseModel):
    """``POST /api/alerts/{identifier}/ack``: the acknowledgement and the alert after it."""

    ack: Ack = Field(description="the acknowledgement recorded")
    alert: Alert = Field(description="the alert after it")
