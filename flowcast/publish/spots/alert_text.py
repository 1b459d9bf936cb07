"""The content of a saturation alert: CAP urgency, severity and certainty, plain-word headline
and instruction (from the ``[alerts]`` templates), parameters, area and expiry.

:class:`AlertWriter` is called by the lifecycle (:mod:`.alerts`) when it has decided to send a
message; it decides nothing about *whether* to send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from flowcast.city import City
from flowcast.config import AlertSettings
from flowcast.publish.spots.cap import LEVEL_NAMES, CapAlert, CapInfo, cap_time
from flowcast.publish.spots.saturation import SpotView

_MINUTE_MS = 60_000


class AlertWriter:
    """Builds the CAP messages of ``city``'s spots with the words of ``settings``."""

    def __init__(self, city: City, settings: AlertSettings) -> None:
        self.city = city
        self.settings = settings
        self.zone = city.zone

    def compose(self, msg_type: str, *, identifier: str, references: str | None, level: int,
                onset_ms: int, view: SpotView, spare: Sequence[tuple[int, float]]) -> CapAlert:
        """The message ``msg_type`` (Alert, Update or Cancel) about an alert at ``level``
        (1 warning, 2 critical; for a Cancel, the level cancelled) crossing at ``onset_ms``,
        from the cycle ``view``; ``spare`` (from :meth:`spare`) gives the alternatives named
        in the instruction."""
        s = self.settings
        headline, instruction = self._words(msg_type, view, level, onset_ms, spare)
        info = CapInfo(
            category=s.category, urgency=self._urgency(msg_type, view, level, onset_ms),
            severity="Minor" if msg_type == "Cancel" else ("Moderate", "Severe")[level - 1],
            certainty=self._certainty(msg_type, view, level, onset_ms),
            onset=cap_time(onset_ms, self.zone),
            expires=cap_time(self._expires(view, onset_ms), self.zone),
            headline=headline, instruction=instruction,
            parameters=self._parameters(view, level),
            area_desc=str(self.city.spot_names[view.k]), circle=self._circle(view.k),
            language=s.language)
        restricted = s.scope == "Restricted"
        return CapAlert(spot=view.spot, identifier=identifier, sender=s.sender,
                        sent=cap_time(view.issued_ms, self.zone), msg_type=msg_type,
                        scope=s.scope, info=info, references=references,
                        restriction=s.restriction if restricted else None)

    # ----- CAP codes ---------------------------------------------------------------------
    def _urgency(self, msg_type: str, view: SpotView, level: int, onset_ms: int) -> str:
        """Immediate when over (or the crossing has passed), Expected when the crossing is
        within ``expected_within_min``, Future beyond; Past for a Cancel."""
        if msg_type == "Cancel":
            return "Past"
        lead_ms = onset_ms - view.issued_ms
        if view.over_now[level - 1] or lead_ms <= 0:
            return "Immediate"
        return "Expected" if lead_ms <= self.settings.expected_within_min * _MINUTE_MS \
            else "Future"

    def _certainty(self, msg_type: str, view: SpotView, level: int, onset_ms: int) -> str:
        """Observed when over now; with an interval, Likely when its P10 crosses too, else
        Possible; without one, Likely within ``likely_within_min`` of the crossing, else
        Possible."""
        if msg_type == "Cancel":
            return "Likely"
        if view.over_now[level - 1]:
            return "Observed"
        if view.sure is not None:
            return "Likely" if view.sure[level - 1] else "Possible"
        near = onset_ms - view.issued_ms <= self.settings.likely_within_min * _MINUTE_MS
        return "Likely" if near else "Possible"

    def _expires(self, view: SpotView, onset_ms: int) -> int:
        """The spot's closing time on the day of the crossing (a crowd leaves at closing);
        the end of the forecast when that time has already passed."""
        start = max(onset_ms, view.issued_ms)
        local = dt.datetime.fromtimestamp(start / 1000, tz=self.zone)
        closes = int(self.city.spot_closes_min[view.k])
        closing = local.replace(hour=closes // 60, minute=closes % 60, second=0, microsecond=0)
        closing_ms = round(closing.timestamp() * 1000)
        return closing_ms if closing_ms > start else max(view.last_valid_ms, start)

    # ----- parameters and area -----------------------------------------------------------
    def _parameters(self, view: SpotView, level: int) -> tuple[tuple[str, str], ...]:
        params = [("spotId", view.spot), ("level", LEVEL_NAMES[level]),
                  ("threshold", _fmt(self._threshold(view.k, level))),
                  ("saturationNow", _fmt(view.now)), ("saturationPeak", _fmt(view.peak)),
                  ("peakTime", cap_time(view.peak_at_ms, self.zone)),
                  ("capacity", str(round(view.capacity)))]
        if view.peak_p10 is not None:
            params.append(("saturationPeakP10", _fmt(view.peak_p10)))
        if view.peak_p90 is not None:
            params.append(("saturationPeakP90", _fmt(view.peak_p90)))
        return tuple(params)

    def _circle(self, k: int) -> str:
        lon, lat = self.city.spot_lonlat[k]
        return f"{lat:.6f},{lon:.6f} 0"

    def _threshold(self, k: int, level: int) -> float:
        return float(self.city.spot_warn[k] if level == 1 else self.city.spot_critical[k])

    # ----- words -------------------------------------------------------------------------
    def _words(self, msg_type: str, view: SpotView, level: int, onset_ms: int,
               spare: Sequence[tuple[int, float]]) -> tuple[str, str]:
        """Headline and instruction, from the templates."""
        s = self.settings
        onset_time = self._clock(onset_ms, view.issued_ms)
        now = view.over_now[level - 1] or onset_ms <= view.issued_ms
        words = {
            "spot": str(self.city.spot_names[view.k]), "level": LEVEL_NAMES[level],
            "threshold_pct": _pct(self._threshold(view.k, level)),
            "clear_pct": _pct(float(self.city.spot_warn[view.k]) - s.hysteresis),
            "now_pct": _pct(view.now), "peak_pct": _pct(view.peak),
            "peak_time": self._clock(view.peak_at_ms, view.issued_ms),
            "onset_time": onset_time,
            "when": s.when_now if now else s.when_later.format_map(_Blank(time=onset_time)),
            "alternatives": self._alternatives(view.k, spare), "time": onset_time}
        if msg_type == "Cancel":
            return (s.headline_cancel.format_map(_Blank(words)),
                    s.instruction_cancel.format_map(_Blank(words)))
        headline = s.headline_now if view.over_now[0] else s.headline_expected
        instruction = (s.instruction_warning, s.instruction_critical)[level - 1]
        return headline.format_map(_Blank(words)), instruction.format_map(_Blank(words))

    def spare(self, index: np.ndarray, saturation: np.ndarray) -> tuple[tuple[int, float], ...]:
        """Spots with spare capacity, least full first: ``(city index, saturation)`` of those
        among ``index`` whose ``saturation`` is below their own warning threshold minus the
        hysteresis. Computed once per cycle; each message then takes the first few."""
        index = np.asarray(index, dtype=np.int64)
        saturation = np.asarray(saturation, dtype=np.float64)
        free = saturation < self.city.spot_warn[index] - self.settings.hysteresis
        order = np.lexsort((index[free], saturation[free]))
        return tuple(zip(index[free][order].tolist(), saturation[free][order].tolist(),
                         strict=True))

    def _alternatives(self, k: int, spare: Sequence[tuple[int, float]]) -> str:
        """Up to ``max_alternatives`` spots from ``spare`` other than ``k``, in plain words."""
        s = self.settings
        chosen = [(j, sat) for j, sat in spare[:s.max_alternatives + 1] if j != k]
        chosen = chosen[:s.max_alternatives]
        if not chosen:
            return s.alternatives_none
        names = ", ".join(f"{self.city.spot_names[j]} ({_pct(sat)}%)" for j, sat in chosen)
        return s.alternatives_some.format_map(_Blank(names=names))

    def _clock(self, ms: int, issued_ms: int) -> str:
        """Local ``HH:MM``, with the date (``MM-DD HH:MM``) when not the issue day."""
        when = dt.datetime.fromtimestamp(ms / 1000, tz=self.zone)
        issued = dt.datetime.fromtimestamp(issued_ms / 1000, tz=self.zone)
        return when.strftime("%H:%M" if when.date() == issued.date() else "%m-%d %H:%M")


class _Blank(dict[str, str]):
    """Template words where a placeholder not given reads as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


def _pct(ratio: float) -> str:
    return str(round(ratio * 100)) if np.isfinite(ratio) else "?"


def _fmt(value: float) -> str:
    return format(round(value, 3), "g") if np.isfinite(value) else "NaN"
