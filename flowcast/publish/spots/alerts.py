"""Scenic-spot saturation alerts: the lifecycle per spot (DESIGN.md "Scenic-spot saturation").

Each spot forecast cycle gives, per spot, visitors now and forecast visitors per horizon;
saturation = visitors / instantaneous capacity, and the level is none (0), warning (1, at or
above the spot's ``warn``) or critical (2, at or above its ``critical``) at the peak of now and
the forecast. :class:`AlertTracker` turns the cycles into CAP messages (:mod:`.cap`):

- **Alert** once the level has been warning or above for ``pending_cycles`` consecutive cycles
  and ``pending_min`` minutes of issue time: one noisy cycle raises nothing;
- **Update** (``references`` the Alert) when a higher level has lasted as long, when the peak
  moves by ``update_peak_delta`` of capacity or the crossing time (``onset``) by
  ``update_onset_min`` (default one spot bucket) for as long, or when a lower level has held
  for the hold time;
- **Cancel** (``references`` the Alert) once the peak stays below the warning threshold minus
  ``hysteresis`` for ``hold_cycles`` cycles and ``hold_min`` minutes.

The tracker is pure and deterministic: the same cycles give the same messages, identifiers
included. Its state exports to JSON (:meth:`AlertTracker.to_dict`), and a restarted engine can
rebuild the active alerts from the latest message per spot on the compacted alerts topic
(:meth:`AlertTracker.restore_from_messages`). ``docs/alerts.md`` has the state diagram.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from flowcast.city import City
from flowcast.config import AlertSettings, Settings
from flowcast.publish.spots.alert_state import (
    Episode,
    SpotAlertState,
    Streak,
    alert_identifier,
    crossing_ms,
    episode_from_message,
    next_message,
)
from flowcast.publish.spots.alert_text import AlertWriter
from flowcast.publish.spots.cap import LEVEL_NAMES, CapAlert, cap_time, reference
from flowcast.publish.spots.cap_read import (
    cap_problems,
    decode_alert,
    message_parameters,
    parse_cap_time,
)
from flowcast.publish.spots.forecasts import SpotForecasts
from flowcast.publish.spots.saturation import SpotView, saturation_readings
from flowcast.publish.spots.saturation_cycle import SaturationCycle

log = logging.getLogger("flowcast.alerts")

NONE, WARNING, CRITICAL = 0, 1, 2
_MINUTE_MS = 60_000
_STATE_FORMAT = 1


class AlertTracker:
    """The saturation-alert lifecycle of every spot of ``city``; feed it each spot forecast
    cycle with :meth:`step` and publish what it returns, keyed by spot."""

    def __init__(self, city: City, settings: AlertSettings | None = None,
                 bucket_s: int = 900) -> None:
        self.city = city
        self.settings = settings or AlertSettings()
        self.zone = city.zone
        self.writer = AlertWriter(city, self.settings)
        self.thresholds = np.stack([city.spot_warn, city.spot_critical], axis=1)
        onset_min = self.settings.update_onset_min or bucket_s / 60
        self.onset_step_ms = round(onset_min * _MINUTE_MS)
        self._states: dict[str, SpotAlertState] = {}
        self._tracked = np.zeros(city.n_spots, dtype=bool)
        self._last_issued = np.full(city.n_spots, -1, dtype=np.int64)

    @classmethod
    def from_settings(cls, city: City, settings: Settings) -> AlertTracker:
        """A tracker with the ``[alerts]`` settings and the spot bucket of ``settings``."""
        return cls(city, settings.alerts, settings.time.spot_bucket_s)

    # ----- the cycle ---------------------------------------------------------------------
    def step(self, cycle: SaturationCycle | SpotForecasts,
             elsewhere: Mapping[str, float] | None = None) -> list[CapAlert]:
        """Advance every spot of ``cycle`` by one issue time and return the messages to
        publish (at most one per spot). ``elsewhere`` adds the saturation of spots outside the
        cycle (other partitions), to pick alternatives with spare capacity. Cycles a spot has
        already seen (an issue time not after its last) change nothing for that spot."""
        if isinstance(cycle, SpotForecasts):
            cycle = SaturationCycle.from_forecasts(cycle)
        index = self.city.spot_index(cycle.spot_ids)
        if (index < 0).any():
            unknown = np.asarray(cycle.spot_ids)[index < 0].tolist()
            raise ValueError(f"spots {unknown} are not in city {self.city.name!r}")
        readings = saturation_readings(cycle, self.thresholds[index], self.settings.hysteresis)
        fresh = (cycle.issued_at_ms > self._last_issued[index]) & readings.known
        self._last_issued[index[fresh]] = cycle.issued_at_ms
        todo = np.flatnonzero(fresh & ((readings.level > NONE) | self._tracked[index]))
        spare = self._spare(readings.peak, index, elsewhere) if len(todo) else ()
        out = []
        for i in todo.tolist():
            message = self._advance(readings.view(i, int(index[i])), spare)
            if message is not None:
                out.append(message)
        return out

    def _advance(self, view: SpotView, spare: Sequence[tuple[int, float]]) -> CapAlert | None:
        """One cycle of one spot's state machine."""
        state = self._states.setdefault(view.spot, SpotAlertState())
        if state.episode is None:
            message = self._while_idle(state, view, spare)
        else:
            message = self._while_active(state, state.episode, view, spare)
        self._tracked[view.k] = not state.idle
        if state.idle:
            del self._states[view.spot]
        return message

    def _while_idle(self, state: SpotAlertState, view: SpotView,
                    spare: Sequence[tuple[int, float]]) -> CapAlert | None:
        """No alert yet: raise once the forecast has been over for the pending time."""
        if view.level == NONE:
            state.up.reset()
            return None
        state.up.extend(view.issued_ms)
        if not self._pending_over(state.up, view.issued_ms):
            return None
        state.up.reset()
        onset = crossing_ms(view, view.level)
        identifier = alert_identifier(view.spot, view.issued_ms, 0)
        state.episode = Episode(
            level=view.level, first_issued_ms=view.issued_ms, first_identifier=identifier,
            first_sender=self.settings.sender, first_sent=cap_time(view.issued_ms, self.zone),
            seq=0, onset_ms=onset, peak=view.peak, peak_at_ms=view.peak_at_ms)
        return self._compose("Alert", state.episode, view, spare)

    def _while_active(self, state: SpotAlertState, episode: Episode, view: SpotView,
                      spare: Sequence[tuple[int, float]]) -> CapAlert | None:
        """An active alert: escalate after the pending time, step down or cancel after the
        hold time, or update when the peak or the onset moved (for the pending time)."""
        state.below_warning.follow(view.level_low == NONE, view.issued_ms)
        state.below_critical.follow(episode.level == CRITICAL and view.level_low < CRITICAL,
                                    view.issued_ms)
        if view.level > episode.level:  # rising: pending, like a raise
            state.change.reset()
            state.up.extend(view.issued_ms)
            if not self._pending_over(state.up, view.issued_ms):
                return None
            state.up.reset()
            return self._update(episode, view, view.level, spare)
        state.up.reset()
        if view.level_low < episode.level:  # falling clear of the threshold: hold
            state.change.reset()
            return self._falling(state, episode, view, spare)
        if not self._moved(episode, view):
            state.change.reset()
            return None
        state.change.extend(view.issued_ms)
        if not self._pending_over(state.change, view.issued_ms):
            return None
        state.change.reset()
        return self._update(episode, view, episode.level, spare)

    def _falling(self, state: SpotAlertState, episode: Episode, view: SpotView,
                 spare: Sequence[tuple[int, float]]) -> CapAlert | None:
        """Cancel after the hold time below warning - hysteresis; leave critical for warning
        after the hold time below critical - hysteresis, unless a cancel is already pending
        (then the Cancel comes alone, one message instead of two)."""
        hold_cycles, hold_min = self.settings.hold_cycles, self.settings.hold_min
        if state.below_warning.reached(hold_cycles, hold_min, view.issued_ms):
            state.below_warning.reset()
            state.below_critical.reset()
            state.episode = None
            return self._compose("Cancel", next_message(episode), view, spare)
        if (state.below_warning.cycles == 0
                and state.below_critical.reached(hold_cycles, hold_min, view.issued_ms)):
            state.below_critical.reset()
            return self._update(episode, view, WARNING, spare)
        return None

    def _pending_over(self, streak: Streak, issued_ms: int) -> bool:
        return streak.reached(self.settings.pending_cycles, self.settings.pending_min,
                              issued_ms)

    def _update(self, episode: Episode, view: SpotView, level: int,
                spare: Sequence[tuple[int, float]]) -> CapAlert:
        """Move the episode to ``level`` and the current forecast; an Update message."""
        same = level == episode.level
        episode.onset_ms = self._kept_onset(episode, view) if same else crossing_ms(view, level)
        episode.level, episode.peak, episode.peak_at_ms = level, view.peak, view.peak_at_ms
        episode.seq += 1
        return self._compose("Update", episode, view, spare)

    def _moved(self, episode: Episode, view: SpotView) -> bool:
        """Whether the peak or the crossing time moved enough to tell the bureau."""
        if abs(view.peak - episode.peak) >= self.settings.update_peak_delta:
            return True
        return self._kept_onset(episode, view) != episode.onset_ms

    def _kept_onset(self, episode: Episode, view: SpotView) -> int:
        """The published onset while the forecast still agrees with it; the new crossing
        when it comes at least a step earlier, or at least a step later with the forecast at
        the published onset clear below the threshold (by the hysteresis). So a forecast
        jittering around the threshold does not move the onset back and forth."""
        published, crossing = episode.onset_ms, view.onset_ms[episode.level - 1]
        if crossing < 0:
            return published
        if published > view.issued_ms and crossing <= published - self.onset_step_ms:
            return crossing
        threshold = float(self.thresholds[view.k, episode.level - 1])
        clear = view.saturation_at(published) < threshold - self.settings.hysteresis
        if clear and crossing >= max(published, view.issued_ms) + self.onset_step_ms:
            return crossing
        return published

    def _spare(self, peak: np.ndarray, index: np.ndarray,
               elsewhere: Mapping[str, float] | None) -> tuple[tuple[int, float], ...]:
        """Spots with spare capacity, least full first: from ``elsewhere``, then the cycle's
        own forecast peaks (which win for a spot in both)."""
        known = dict(zip(index.tolist(), peak.tolist(), strict=True))
        if elsewhere:
            other = self.city.spot_index(list(elsewhere)).tolist()
            for k, sat in zip(other, elsewhere.values(), strict=True):
                if k >= 0:
                    known.setdefault(k, float(sat))
        sat = np.array(list(known.values()), dtype=np.float64)
        return self.writer.spare(np.array(list(known), dtype=np.int64), sat)

    def _compose(self, msg_type: str, episode: Episode, view: SpotView,
                 spare: Sequence[tuple[int, float]]) -> CapAlert:
        """The message ``msg_type`` numbered ``episode.seq`` in the episode."""
        first = msg_type == "Alert"
        refs = None if first else reference(episode.first_sender, episode.first_identifier,
                                            episode.first_sent)
        return self.writer.compose(
            msg_type, identifier=alert_identifier(view.spot, episode.first_issued_ms, episode.seq),
            references=refs, level=episode.level, onset_ms=episode.onset_ms, view=view,
            spare=spare)

    # ----- what is active ----------------------------------------------------------------
    def active(self) -> dict[str, str]:
        """Spots with an active alert and its level (``warning`` or ``critical``)."""
        return {spot: LEVEL_NAMES[s.episode.level] for spot, s in self._states.items()
                if s.episode is not None}

    # ----- export, import, restore -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable data (see :meth:`from_dict`)."""
        seen = np.flatnonzero(self._last_issued >= 0)
        return {"format": _STATE_FORMAT,
                "last_issued": dict(zip(self.city.spot_ids[seen].tolist(),
                                        self._last_issued[seen].tolist(), strict=True)),
                "spots": {spot: asdict(state) for spot, state in self._states.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], city: City,
                  settings: AlertSettings | None = None, bucket_s: int = 900) -> AlertTracker:
        """A tracker continuing from :meth:`to_dict`'s output; spots no longer in ``city``
        are dropped (and logged)."""
        if data.get("format") != _STATE_FORMAT:
            raise ValueError(f"alert state format {data.get('format')!r} is not "
                             f"{_STATE_FORMAT}")
        tracker = cls(city, settings, bucket_s)
        for spot, ms in data.get("last_issued", {}).items():
            k = tracker._known(spot)
            if k >= 0:
                tracker._last_issued[k] = int(ms)
        for spot, state in data.get("spots", {}).items():
            k = tracker._known(spot)
            if k >= 0:
                tracker._states[spot] = SpotAlertState.from_dict(state)
                tracker._tracked[k] = True
        return tracker

    def restore_from_messages(self, messages: Iterable[bytes | Mapping[str, Any]],
                              now_ms: int | None = None) -> list[str]:
        """Rebuild the active alerts from the alerts topic read back after a restart: the
        latest message per spot, in topic order (a later message for a spot replaces an
        earlier one). An Alert or Update restores the spot's alert, so it is neither raised
        again nor forgotten; a Cancel leaves the spot without one. Messages that expired
        before ``now_ms`` (when given) restore nothing; malformed ones are logged and skipped.
        Returns the spots with an active alert afterwards. Cycles not after a message's
        ``sent`` are then ignored for its spot (they were processed before the restart)."""
        latest: dict[str, dict[str, Any]] = {}
        for raw in messages:
            message = self._checked(raw)
            if message is not None:
                latest[message_parameters(message)["spotId"]] = message
        for spot, message in latest.items():
            self._restore_one(spot, message, now_ms)
        return sorted(self.active())

    def _checked(self, raw: bytes | Mapping[str, Any]) -> dict[str, Any] | None:
        """The decoded message, or None (logged) when it is no alert of a known spot."""
        try:
            message = decode_alert(raw)
        except ValueError as err:
            log.warning("alert message skipped on restore: %s", err)
            return None
        problems = cap_problems(message)
        if problems or self._known(message_parameters(message)["spotId"]) < 0:
            log.warning("alert message %s skipped on restore: %s",
                        message.get("identifier"), "; ".join(problems) or "unknown spot")
            return None
        return message

    def _restore_one(self, spot: str, message: Mapping[str, Any], now_ms: int | None) -> None:
        """Make ``message`` the spot's last word: its alert active, or none."""
        k = self._known(spot)
        sent_ms = parse_cap_time(message["sent"])
        self._last_issued[k] = max(int(self._last_issued[k]), sent_ms)
        self._states.pop(spot, None)
        self._tracked[k] = False
        expired = now_ms is not None and parse_cap_time(message["info"]["expires"]) <= now_ms
        if message["msgType"] == "Cancel" or expired:
            return
        self._states[spot] = SpotAlertState(episode=episode_from_message(message))
        self._tracked[k] = True

    def _known(self, spot: str) -> int:
        k = int(self.city.spot_index([spot])[0])
        if k < 0:
            log.warning("spot %r is not in city %r; its alert state is dropped", spot,
                        self.city.name)
        return k
