"""The event-time watermark rule (DESIGN.md "Time")."""

from __future__ import annotations

from flowcast.engine.watermark import Watermark

T0 = 1_764_000_000_000


def test_watermark_follows_the_newest_event_minus_lateness() -> None:
    wm = Watermark(allowed_lateness_ms=60_000)
    assert wm.value is None and not wm.advance_idle(T0, 1000)
    assert wm.observe(T0 + 500_000, now_ms=T0 + 501_000) == T0 + 440_000
    assert wm.observe(T0 + 100_000, now_ms=T0 + 502_000) == T0 + 440_000  # never goes back
    assert wm.newest_event_ms == T0 + 500_000


def test_watermark_advances_with_the_wall_clock_when_idle() -> None:
    wm = Watermark(allowed_lateness_ms=60_000)
    wm.observe(T0, now_ms=T0 + 2_000)
    assert not wm.advance_idle(T0 + 20_000, idle_timeout_ms=30_000)
    assert wm.value == T0 - 60_000
    assert wm.advance_idle(T0 + 32_000, idle_timeout_ms=30_000)
    assert wm.value == T0 + 30_000 - 60_000  # event time ran on for the 30 s of silence
    assert wm.advance_idle(T0 + 602_000, idle_timeout_ms=30_000)
    assert wm.value == T0 + 600_000 - 60_000
    wm.observe(T0 + 1000, now_ms=T0 + 603_000)  # an old straggler: the watermark stays
    assert wm.value == T0 + 540_000
    assert not wm.advance_idle(T0 + 604_000, idle_timeout_ms=30_000)  # not idle any more


def test_watermark_in_a_replay_behind_real_time_moves_at_wall_clock_rate() -> None:
    wm = Watermark(allowed_lateness_ms=0)
    yesterday = T0 - 86_400_000
    wm.observe(yesterday, now_ms=T0)
    wm.advance_idle(T0 + 60_000, idle_timeout_ms=10_000)
    assert wm.value == yesterday + 60_000  # not pushed to today
