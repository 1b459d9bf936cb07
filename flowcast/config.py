"""Settings: ``flowcast.toml`` plus ``FLOWCAST_*`` environment overrides.

The file has one table per section (``[kafka]``, ``[topics]``, ``[time]``, ...). Any setting can
be overridden from the environment as ``FLOWCAST_<SECTION>_<KEY>`` in upper case, e.g.
``FLOWCAST_KAFKA_BOOTSTRAP=127.0.0.1:9092`` or ``FLOWCAST_TIME_ROAD_BUCKET_S=600`` (read by
pydantic-settings; lists as JSON, ``FLOWCAST_LEVELS_ARTERIAL=[45, 30, 20, 15]``). Precedence,
lowest to highest: defaults, the file, the environment, command-line flags. A ``FLOWCAST_*``
variable that names no setting is refused like an unknown key in the file (except those in
:data:`NOT_SETTINGS`). ``flowcast.toml.example`` lists every setting with its default.
"""

from __future__ import annotations

import difflib
import itertools
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from flowcast.errors import FlowcastUserError

ENV_PREFIX = "FLOWCAST_"
DEFAULT_CONFIG_FILE = "flowcast.toml"
# FLOWCAST_* variables that flowcast reads for other things than settings: allowed, while any
# other FLOWCAST_* name that is no setting is refused (a misspelling must not pass silently).
NOT_SETTINGS = frozenset({
    "FLOWCAST_CACHE_DIR",  # the local broker's jar cache (flowcast.transport.devbroker.jars)
    "FLOWCAST_BENCH_CACHE",  # the benchmarks' trained-model cache (benchmarks/)
})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSettings(_Section):
    """How to reach the broker and how this process joins the consumer group."""

    bootstrap: str = "127.0.0.1:9092"
    group_id: str = "flowcast-engine"
    client_id: str = "flowcast"
    # Static membership (KIP-345): a stable id per engine process (e.g. a StatefulSet pod name).
    # A process restarted with the same id gets its partitions back at once, without a
    # rebalance; two live processes must never share one. None: an ordinary (dynamic) member.
    instance_id: str | None = Field(default=None, min_length=1, max_length=249)
    # How long the group waits for a silent member before moving its partitions: the takeover
    # time after a crash. 10 s, not kafka-python's 45 s default; the broker's floor is 6 s.
    session_timeout_s: float = Field(default=10.0, ge=1.0, le=1800.0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    # Engine retries after a broker error: exponential backoff from 0.5 s up to this.
    retry_backoff_max_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> KafkaSettings:
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError("kafka.heartbeat_interval_s must be at most a third of "
                             "kafka.session_timeout_s (a few heartbeats per session)")
        return self


class TopicSettings(_Section):
    """Topic names (DESIGN.md's defaults) and how ``flowcast topics create`` makes them."""

    road_readings: str = "flowcast.road.readings"
    spot_readings: str = "flowcast.spot.readings"
    road_conditions: str = "flowcast.road.conditions"
    spot_forecasts: str = "flowcast.spot.forecasts"
    spot_alerts: str = "flowcast.spot.alerts"
    deadletter: str = "flowcast.deadletter"
    partitions: int = Field(default=6, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1)
    retention_hours: float = Field(default=24 * 9, gt=0)  # history span (8 days) plus margin

    def all_names(self) -> list[str]:
        """Every topic name, inputs first."""
        return [self.road_readings, self.spot_readings, self.road_conditions,
                self.spot_forecasts, self.spot_alerts, self.deadletter]

    def compacted(self) -> set[str]:
        """Topics kept by key (the latest alert per spot) rather than by time."""
        return {self.spot_alerts}


class TimeSettings(_Section):
    """Event-time bucketing (seconds)."""

    road_bucket_s: int = Field(default=300, gt=0)
    spot_bucket_s: int = Field(default=900, gt=0)
    allowed_lateness_s: int = Field(default=60, ge=0)
    idle_timeout_s: int = Field(default=30, gt=0)
    history_days: float = Field(default=8, gt=0)
    max_future_s: int = Field(default=300, ge=0)  # readings further ahead of the clock are refused

    @model_validator(mode="after")
    def _buckets_divide_a_day(self) -> TimeSettings:
        for name in ("road_bucket_s", "spot_bucket_s"):
            if 86400 % getattr(self, name):
                raise ValueError(f"{name} must divide a day (86400 s) evenly")
        return self


class EngineSettings(_Section):
    """The streaming loop: polling, recovery, forecast horizons."""

    start_from: Literal["earliest", "latest"] = "latest"  # for a group with no committed offset
    poll_max_records: int = Field(default=5000, ge=1)
    poll_timeout_ms: int = Field(default=200, ge=1)
    road_reporting_interval_s: float = Field(default=60.0, gt=0)  # expected detector cadence
    road_horizons_min: tuple[int, ...] = (15, 30, 45, 60)
    spot_horizons_min: tuple[int, ...] = (60, 120, 180, 240, 360, 480)
    open_buckets: int = Field(default=4, ge=2)  # event-time buckets open at once per partition
    # How long one flush waits for the broker's acknowledgements before the step is retried
    # (nothing is lost: the outputs stay pending and the offsets uncommitted).
    flush_timeout_s: float = Field(default=10.0, gt=0)
    # LightGBM threads per live forecast call. 1 by default: a partition's cycle predicts a few
    # hundred to a few thousand rows, where OpenMP's start-up and contention with the other
    # partitions' threads cost more than they save (97 ms -> 6 ms for 170 rows measured on
    # 2 busy cores). 0 = LightGBM's default (all cores).
    model_threads: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _horizons_positive(self) -> EngineSettings:
        for name in ("road_horizons_min", "spot_horizons_min"):
            values = getattr(self, name)
            if not values or min(values) <= 0 or list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be positive, increasing and not empty")
        return self


class LevelSettings(_Section):
    """Congestion-level bands by road class: speeds (km/h) at or below which a segment falls
    to levels 2..5 (basically smooth, light, moderate, severe congestion); above the first it
    is smooth (level 1). Defaults are the bands of Chinese urban traffic indices. The
    ``trend_*`` and ``confidence_*`` settings say how a forecast's trend and confidence are
    judged (``docs/conditions.md``)."""

    expressway: tuple[float, float, float, float] = (65.0, 50.0, 35.0, 20.0)
    arterial: tuple[float, float, float, float] = (40.0, 30.0, 20.0, 15.0)
    secondary: tuple[float, float, float, float] = (35.0, 25.0, 15.0, 10.0)
    branch: tuple[float, float, float, float] = (35.0, 25.0, 15.0, 10.0)
    min_speed_kmh: float = Field(default=3.0, gt=0)  # floor for travel times: never infinite
    # trend and confidence of forecasts (flowcast.publish.roads.outlook, docs/conditions.md)
    trend_tolerance: float = Field(default=0.10, ge=0, lt=1)  # relative travel-time change
    confidence_high_width: float = Field(default=0.25, gt=0)  # (p90 - p10) / speed at most
    confidence_low_width: float = Field(default=0.60, gt=0)  # (p90 - p10) / speed above
    confidence_speed_floor_kmh: float = Field(default=10.0, gt=0)  # speed divisor's floor
    # guidance-screen advice (flowcast.publish.roads.screens, docs/http-api.md): a route is
    # "avoid" when it is avoid_slower times the best route's time and avoid_minutes slower, or
    # at avoid_level or worse and avoid_levels worse than the best route
    avoid_level: int = Field(default=4, ge=2, le=5)
    avoid_levels: int = Field(default=1, ge=1, le=4)
    avoid_slower: float = Field(default=1.25, gt=1)
    avoid_minutes: float = Field(default=3.0, ge=0)

    @model_validator(mode="after")
    def _bands_descend(self) -> LevelSettings:
        for name in ("expressway", "arterial", "secondary", "branch"):
            band = getattr(self, name)
            if any(a <= b for a, b in itertools.pairwise(band)) or band[-1] <= 0:
                raise ValueError(f"{name} bands must be positive and strictly descending")
        return self

    @model_validator(mode="after")
    def _confidence_widths_ordered(self) -> LevelSettings:
        if self.confidence_high_width >= self.confidence_low_width:
            raise ValueError("confidence_high_width must be below confidence_low_width")
        return self


class AlertSettings(_Section):
    """Scenic-spot saturation alerts (``flowcast.publish.spots.alerts``, ``docs/alerts.md``): when
    an
    alert is raised, updated and cancelled, and the words of its CAP message. Times are minutes
    of issue time; a condition must hold for both its cycles and its minutes."""

    pending_cycles: int = Field(default=2, ge=1)  # consecutive cycles over before raising
    pending_min: float = Field(default=0.0, ge=0)
    hold_cycles: int = Field(default=2, ge=1)  # consecutive cycles below before cancelling
    hold_min: float = Field(default=60.0, ge=0)
    hysteresis: float = Field(default=0.05, ge=0, lt=1)  # saturation below a threshold to clear
    update_peak_delta: float = Field(default=0.05, gt=0)  # peak move (x capacity) for an Update
    update_onset_min: float | None = Field(default=None, gt=0)  # None: one spot bucket
    expected_within_min: float = Field(default=120.0, ge=0)  # onset this close: Expected
    likely_within_min: float = Field(default=120.0, ge=0)  # no interval: Likely this close
    max_alternatives: int = Field(default=2, ge=0)
    sender: str = Field(default="flowcast", pattern=r"^[^\s,<&]+$")
    scope: Literal["Public", "Restricted"] = "Public"
    restriction: str = ""  # who may see a Restricted alert (CAP requires it then)
    category: Literal["Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                      "Transport", "Infra", "CBRNE", "Other"] = "Safety"  # CAP 1.2's list
    language: str = "en-US"
    headline_expected: str = "{spot} expected to reach {peak_pct}% of capacity at {peak_time}"
    headline_now: str = ("{spot} at {now_pct}% of capacity now; "
                         "forecast peak {peak_pct}% at {peak_time}")
    headline_cancel: str = ("{spot} saturation alert cancelled: "
                            "forecast stays below {clear_pct}% of capacity")
    instruction_warning: str = ("Announce the saturation warning and stop ticket sales at the "
                                "gates of {spot} {when} ({threshold_pct}% of capacity); "
                                "{alternatives}.")
    instruction_critical: str = ("Close the entrances of {spot} {when} ({threshold_pct}% of "
                                 "capacity) and hold arrivals outside; {alternatives}.")
    instruction_cancel: str = "Resume normal ticket sales at {spot}."
    alternatives_some: str = "direct arrivals to {names}"
    alternatives_none: str = "no other spot has spare capacity: hold arrivals at the car parks"
    when_now: str = "now"
    when_later: str = "by {time}"

    @model_validator(mode="after")
    def _texts_and_scope(self) -> AlertSettings:
        placeholders = ("spot", "level", "threshold_pct", "clear_pct", "now_pct", "peak_pct",
                        "peak_time", "onset_time", "when", "alternatives", "names", "time")
        sample = dict.fromkeys(placeholders, "x")
        for name, value in self:
            if name.startswith(("headline_", "instruction_", "alternatives_", "when_")):
                try:
                    value.format(**sample)
                except (KeyError, IndexError, ValueError) as err:
                    allowed = ", ".join("{" + p + "}" for p in placeholders)
                    raise ValueError(f"{name} has a bad placeholder ({err}); use {allowed}") \
                        from None
        if self.scope == "Restricted" and not self.restriction.strip():
            raise ValueError("scope 'Restricted' needs a restriction (who may see the alert)")
        return self


class HttpSettings(_Section):
    """The HTTP API and pages (``flowcast run --port``, ``flowcast demo``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    # bearer token that acknowledging an alert requires; empty: acknowledging is refused
    token: str = ""
    recent_minutes: float = Field(default=180.0, gt=0)  # how far back pages read on start
    sse_keepalive_s: float = Field(default=15.0, gt=0)
    # largest request body taken, in bytes; a bigger one is refused (413) without being read
    max_body_bytes: int = Field(default=65536, ge=1)


class Settings(_Section):
    """All of flowcast's settings."""

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    time: TimeSettings = TimeSettings()
    levels: LevelSettings = LevelSettings()
    alerts: AlertSettings = AlertSettings()
    engine: EngineSettings = EngineSettings()
    http: HttpSettings = HttpSettings()


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Load settings from ``path`` (default: ``./flowcast.toml`` if present), then the
    environment (``os.environ`` unless ``environ`` is given), then ``overrides``
    (``{"kafka": {"bootstrap": ...}}``, from CLI flags; None values are left out).

    Raises :class:`FlowcastUserError` naming the file and the setting on any invalid value.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is None and Path(DEFAULT_CONFIG_FILE).exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        data = _read_toml(Path(path))
        source = str(path)
    _merge(data, _EnvironmentSource(os.environ if environ is None else environ)())
    _merge(data, {section: {k: v for k, v in values.items() if v is not None}
                  for section, values in (overrides or {}).items()})
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FlowcastUserError(
            f"invalid setting {where} (from {source} or FLOWCAST_* environment): {first['msg']}"
        ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        message = f"config file {path} does not exist; pass an existing --config"
        raise FlowcastUserError(message) from None
    except tomllib.TOMLDecodeError as err:
        raise FlowcastUserError(f"config file {path} is not valid TOML: {err}") from None


def _merge(data: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """Lay ``layer``'s ``{section: {key: value}}`` over ``data``, key by key."""
    for section, values in layer.items():
        below = data.get(section)
        both = isinstance(below, dict) and isinstance(values, Mapping)
        data[section] = {**below, **values} if both else values


def setting_variables() -> set[str]:
    """Every ``FLOWCAST_<SECTION>_<KEY>`` name (upper case) that sets a setting."""
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        names.update(f"{ENV_PREFIX}{section}_{key}".upper() for key in model.model_fields)
    return names


def refuse_unknown_variables(names: Iterable[str]) -> None:
    """Raise :class:`FlowcastUserError` for the first ``FLOWCAST_*`` name in ``names`` that is
    neither a setting (in any case) nor in :data:`NOT_SETTINGS`, naming the nearest valid one.
    Names without the upper-case ``FLOWCAST_`` prefix are not looked at."""
    known = setting_variables() | NOT_SETTINGS
    for name in sorted(n for n in names if n.startswith(ENV_PREFIX)):
        if name.upper() in known:
            continue
        # compared without the prefix that every name shares, which would make all look close
        stems = {k.removeprefix(ENV_PREFIX): k for k in known}
        close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), stems, n=1)
        hint = f"; did you mean {stems[close[0]]}?" if close else ""
        raise FlowcastUserError(
            f"environment variable {name} is no flowcast setting{hint} (fix or unset it; "
            "every setting is in flowcast.toml.example as FLOWCAST_<SECTION>_<KEY>)")


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' reader of ``FLOWCAST_<SECTION>_<KEY>`` variables (one ``_`` between
    the section and the key; keys keep theirs), over a given mapping. Lists and tables are JSON
    (``[65, 50, 35, 20]``); scalars stay text for validation to convert. A ``FLOWCAST_*`` name
    that is no setting is refused (:func:`refuse_unknown_variables`); names whose prefix is not
    upper case are ignored."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
        refuse_unknown_variables(self._environ)
        super().__init__(Settings, case_sensitive=False, env_prefix=ENV_PREFIX,  # type: ignore[arg-type]
                         env_nested_delimiter="_", env_nested_max_split=1)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Nothing for a whole section: ``FLOWCAST_KAFKA`` alone names no setting, so each
        section is read key by key."""
        return None, field_name, False

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """JSON for lists and tables; text that is not JSON is left for validation to refuse
        with the setting's name."""
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value

    def __call__(self) -> dict[str, Any]:
        """``{section: {key: text or decoded JSON}}`` of the variables that name a setting
        (those in :data:`NOT_SETTINGS` left out)."""
        return {section: {key: value for key, value in values.items()
                          if key in Settings.model_fields[section].annotation.model_fields}
                for section, values in super().__call__().items()}
