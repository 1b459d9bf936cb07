"""Guidance-screen route ranking from the latest road conditions.

A screen (``city.screens``) advises on two or three alternative routes to one destination. For
one issue time ``T`` every route gets:

- **travel time**: the sum of its segments' travel times, now and at each forecast horizon
  (seconds). A segment listed several times in a row (a long segment crossing several grid
  blocks) counts once; unknown (null) times make the route's time unknown at that horizon.
- **level**: the length-weighted mean of its segments' levels, rounded half up, but never more
  than one level better than its worst segment. The mean says how the whole drive feels; the
  floor keeps one short severe jam (which blocks the route) from being averaged away.
- **rank**: routes sorted by the travel time at the first forecast horizon (+15 min by default:
  by the time a driver who reads the screen is on the route), then by the current time; unknown
  times rank last.
- **trend** per horizon: ``worsening`` when the route's forecast time is over
  ``levels.trend_tolerance`` (10 %) above its time now, ``improving`` when that much below,
  else ``steady`` (top level: the first horizon's); **confidence** per horizon: the lowest of
  its segments' ``confidence`` labels when every segment carries one, else null.
- **advice**: ``take`` for the best route; ``avoid`` only when the difference matters: a route
  ``levels.avoid_slower`` (1.25) times the best one's time **and** ``levels.avoid_minutes`` (3)
  minutes slower, or at ``levels.avoid_level`` (4, moderate congestion) or worse, now or at the
  first horizon, **and** ``levels.avoid_levels`` (1) levels worse than the best route; else
  ``alternative``; ``unknown`` when its time is unknown.
- **name**: the city's route name; when two routes of a screen share it (both "via" the same
  road), each gets the next road where it parts from the others (``via Haixiu Road, then
  Zong 4 Road``), or, on the same roads throughout, the first segment only it takes.

A screen's message for ``T`` is computed once every segment of its routes has a condition issued
at ``T`` (conditions arrive per partition, possibly from different engine processes)::

    {"screen": "VMS01", "name": "...", "destination": "...", "issued_at": T,
     "routes": [{"route": "VMS01-B", "name": "...", "rank": 1, "segments": [...],
                 "now": {"travel_time_s": 412.0, "level": 2},
                 "forecast": [{"horizon_min": 15, "travel_time_s": 430.5, "level": 2,
                               "trend": "steady", "confidence": null}, ...],
                 "trend": "steady", "advice": "take"}, ...]}

The serving processes rank the screens where they serve them
(:mod:`flowcast.serve.screen_board`); the rankings are never written to Kafka.
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowcast.city import City, Screen
from flowcast.config import LevelSettings

CONFIDENCE_ORDER = ("low", "medium", "high")
_DEFAULTS = LevelSettings()
_DIRECTION = re.compile(r"\s+\S*bound$", re.IGNORECASE)


@dataclass(frozen=True)
class RoutePlan:
    """One route of a screen, resolved against the city: segment ids (consecutive repeats
    collapsed) and their lengths in metres."""

    id: str
    name: str
    segments: tuple[str, ...]
    lengths_m: tuple[float, ...]


def route_plans(city: City, screen: Screen) -> list[RoutePlan]:
    """The routes of ``screen`` with consecutive repeated segments collapsed, each with a name
    no other route of the screen has (:func:`distinct_names`)."""
    kept_segments: list[list[int]] = []
    for route in screen.routes:
        indices = [int(g) for g in route.segments.tolist()]
        kept_segments.append([g for i, g in enumerate(indices) if i == 0 or g != indices[i - 1]])
    roads = [_collapse([road_name(str(city.segment_names[g])) for g in kept])
             for kept in kept_segments]
    segments = [[str(city.segment_ids[g]) for g in kept] for kept in kept_segments]
    names = distinct_names([r.name for r in screen.routes], roads, segments,
                           [r.id for r in screen.routes])
    return [RoutePlan(route.id, name, tuple(ids),
                      tuple(float(city.segment_length_m[g]) for g in kept))
            for route, name, ids, kept in zip(screen.routes, names, segments, kept_segments,
                                              strict=True)]


def road_name(segment_name: str) -> str:
    """The road a segment lies on: its name without a trailing direction (``Heng 2 Road
    eastbound`` -> ``Heng 2 Road``)."""
    return _DIRECTION.sub("", segment_name).strip() or segment_name


def distinct_names(names: Sequence[str], roads: Sequence[Sequence[str]],
                   segments: Sequence[Sequence[str]], ids: Sequence[str]) -> list[str]:
    """Route names a driver can tell apart. Routes sharing a name get the first road, in
    driving order, where each parts from every other route of that name (``<name>, then
    <road>``); routes on the same roads throughout get the first segment only they take
    (``<name> (<segment id>)``); a name still shared ends with the route id."""
    out = list(names)
    for name, count in Counter(names).items():
        if count < 2:
            continue
        group = [i for i, n in enumerate(names) if n == name]
        for i in group:
            others = [j for j in group if j != i]
            road = _parting_road(name, roads[i], [roads[j] for j in others])
            if road is not None:
                out[i] = f"{name}, then {road}"
                continue
            theirs = {s for j in others for s in segments[j]}
            own = next((s for s in segments[i] if s not in theirs), None)
            if own is not None:
                out[i] = f"{name} ({own})"
    shared = Counter(out)
    return [n if shared[n] == 1 else f"{n} ({ids[i]})" for i, n in enumerate(out)]


def _parting_road(name: str, roads: Sequence[str],
                  others: Sequence[Sequence[str]]) -> str | None:
    """The first road of ``roads`` not already in ``name`` that differs from the road every
    other route takes at the same step."""
    for k, road in enumerate(roads):
        if road in name:
            continue
        if all(k >= len(other) or other[k] != road for other in others):
            return road
    return None


def _collapse(items: Sequence[str]) -> list[str]:
    return [x for i, x in enumerate(items) if i == 0 or x != items[i - 1]]


def route_level(levels: Sequence[int | None], lengths_m: Sequence[float]) -> int | None:
    """A route's level from its segments' levels (1..5) and lengths: the length-weighted mean
    rounded half up, raised to ``worst - 1`` when lower. None when any level is unknown."""
    if not levels or any(lv is None or not 1 <= lv <= 5 for lv in levels):
        return None
    weights = np.asarray(lengths_m, dtype=np.float64)
    values = np.asarray(levels, dtype=np.float64)
    mean = float((values * weights).sum() / weights.sum()) if weights.sum() > 0 else values.mean()
    return max(math.floor(mean + 0.5), int(values.max()) - 1)


def _travel_time(times: Sequence[float | None]) -> float | None:
    if any(t is None or not math.isfinite(t) for t in times):
        return None
    return round(float(sum(times)), 1)  # type: ignore[arg-type]


def _route_entry(plan: RoutePlan, conditions: Mapping[str, Mapping[str, Any]],
                 tolerance: float) -> dict[str, Any]:
    """A route's travel times and levels now and at each horizon (rank/advice added later)."""
    messages = [conditions[s] for s in plan.segments]
    now = {"travel_time_s": _travel_time([m["now"].get("travel_time_s") for m in messages]),
           "level": route_level([m["now"].get("level") for m in messages], plan.lengths_m)}
    horizons = [f["horizon_min"] for f in messages[0].get("forecast", [])]
    forecast = []
    for h in horizons:
        items = [_at_horizon(m, h) for m in messages]
        travel = _travel_time([i.get("travel_time_s") if i else None for i in items])
        forecast.append({
            "horizon_min": h, "travel_time_s": travel,
            "level": route_level([i.get("level") if i else None for i in items],
                                 plan.lengths_m),
            "trend": route_trend(now["travel_time_s"], travel, tolerance),
            "confidence": _lowest_confidence([i.get("confidence") if i else None
                                              for i in items])})
    return {"route": plan.id, "name": plan.name, "segments": list(plan.segments),
            "length_m": round(sum(plan.lengths_m), 1), "now": now, "forecast": forecast,
            "trend": forecast[0]["trend"] if forecast else None}


def route_trend(now_s: float | None, ahead_s: float | None,
                tolerance: float = _DEFAULTS.trend_tolerance) -> str | None:
    """``worsening``/``improving``/``steady``: the forecast travel time against the time now
    (a relative change of more than ``tolerance``); None when either is unknown."""
    if now_s is None or ahead_s is None or now_s <= 0:
        return None
    if ahead_s > now_s * (1 + tolerance):
        return "worsening"
    if ahead_s < now_s * (1 - tolerance):
        return "improving"
    return "steady"


def _lowest_confidence(labels: Sequence[Any]) -> str | None:
    if not labels or any(label not in CONFIDENCE_ORDER for label in labels):
        return None
    return min(labels, key=CONFIDENCE_ORDER.index)


def _at_horizon(message: Mapping[str, Any], horizon_min: int) -> Mapping[str, Any] | None:
    for item in message.get("forecast", []):
        if item.get("horizon_min") == horizon_min:
            return item
    return None


def _ranking_time(entry: Mapping[str, Any]) -> tuple[float, float]:
    first = entry["forecast"][0]["travel_time_s"] if entry["forecast"] else None
    now = entry["now"]["travel_time_s"]
    key = first if first is not None else now
    return (math.inf if key is None else key, math.inf if now is None else now)


def _worst_level(entry: Mapping[str, Any]) -> int | None:
    """The worse of a route's level now and at the first horizon (None: both unknown)."""
    levels = [entry["now"]["level"]] + [f["level"] for f in entry["forecast"][:1]]
    return max((lv for lv in levels if lv is not None), default=None)


def rank_routes(entries: list[dict[str, Any]],
                levels: LevelSettings | None = None) -> list[dict[str, Any]]:
    """Sort route entries best first and set their ``rank`` (1 = best) and ``advice``, with
    the ``avoid_*`` thresholds of ``levels`` (default: the defaults)."""
    s = levels or _DEFAULTS
    ranked = sorted(entries, key=_ranking_time)
    best = _ranking_time(ranked[0])[0] if ranked else math.inf
    best_level = _worst_level(ranked[0]) if ranked else None
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
        time_s = _ranking_time(entry)[0]
        worst = _worst_level(entry)
        slower = time_s > best * s.avoid_slower and time_s - best >= s.avoid_minutes * 60
        jammed = worst is not None and worst >= s.avoid_level and (
            best_level is None or worst - best_level >= s.avoid_levels)
        if not math.isfinite(time_s):
            entry["advice"] = "unknown"
        elif rank == 1:
            entry["advice"] = "take"
        elif slower or jammed:
            entry["advice"] = "avoid"
        else:
            entry["advice"] = "alternative"
    return ranked


def screen_message(screen: Screen, plans: Sequence[RoutePlan], issued_at: int,
                   conditions: Mapping[str, Mapping[str, Any]],
                   levels: LevelSettings | None = None) -> dict[str, Any]:
    """The ranking message of ``screen`` for ``issued_at`` from the conditions of every segment
    of its routes (``{segment id: condition message}``, all issued at ``issued_at``), with the
    trend and advice settings of ``levels`` (default: the defaults)."""
    s = levels or _DEFAULTS
    entries = [_route_entry(plan, conditions, s.trend_tolerance) for plan in plans]
    return {"screen": screen.id, "name": screen.name, "destination": screen.destination,
            "issued_at": issued_at, "routes": rank_routes(entries, s)}


class ScreenRanker:
    """Collects conditions per issue time and ranks each screen once all its segments have a
    condition for that time. Not thread-safe: the caller (the live view) serialises calls.

    ``keep_issues``: how many issue times may wait for missing segments at once; older ones are
    dropped (a partition that never reports would otherwise hold memory forever). ``levels``:
    the trend and advice settings (default: the defaults).
    """

    def __init__(self, city: City, keep_issues: int = 12,
                 levels: LevelSettings | None = None) -> None:
        self.city = city
        self.keep_issues = keep_issues
        self.levels = levels or _DEFAULTS
        self.plans = {s.id: route_plans(city, s) for s in city.screens}
        self.screens = {s.id: s for s in city.screens}
        self._needs = {sid: {seg for p in plans for seg in p.segments}
                       for sid, plans in self.plans.items()}
        self.watched: frozenset[str] = frozenset().union(*self._needs.values())
        self._pending: OrderedDict[int, dict[str, Mapping[str, Any]]] = OrderedDict()
        self._done: dict[str, int] = {}  # screen id -> latest issue time ranked
        self.dropped_issues = 0

    def add(self, condition: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one segment condition message; return the screen messages it completes."""
        segment, issued_at = condition.get("segment"), condition.get("issued_at")
        if segment not in self.watched or not isinstance(issued_at, int):
            return []
        if issued_at not in self._pending:
            if issued_at <= min(self._done.get(sid, -1) for sid in self._needs):
                return []  # every screen was already ranked at or after this time
            self._pending[issued_at] = {}
            self._pending = OrderedDict(sorted(self._pending.items()))
            while len(self._pending) > self.keep_issues:
                self._pending.popitem(last=False)
                self.dropped_issues += 1
            if issued_at not in self._pending:
                return []
        have = self._pending[issued_at]
        have[str(segment)] = condition
        out = []
        for sid, needs in self._needs.items():
            if self._done.get(sid, -1) >= issued_at or not needs <= have.keys():
                continue
            out.append(screen_message(self.screens[sid], self.plans[sid], issued_at, have,
                                      self.levels))
            self._done[sid] = issued_at
        if all(self._done.get(sid, -1) >= issued_at for sid in self._needs):
            for t in [t for t in self._pending if t <= issued_at]:
                del self._pending[t]
        return out

