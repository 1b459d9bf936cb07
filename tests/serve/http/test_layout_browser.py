"""The guidance screen and the bureau page in a real headless Chromium, on a scenario where the
screen's destination is over capacity: the screen says so and points where the bureau sends
arrivals instead, never TAKE to a full spot, AVOID only when it matters, distinct route names;
no label overlaps another or runs out of its container at the screen's resolution (checked
from the elements' bounding boxes); the bureau shows an alert's figures now beside the ones it
was sent with, a peak with its time that is never below now without saying it has passed,
local times as people write them, and cancelled alerts folded away below the active one.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from live_harness import (
    MORNING_MS,
    alert_lifecycle,
    apply_records,
    condition_records,
    live_settings,
    spot_records,
)

from flowcast.city import City
from flowcast.ingest.simulator import generate_city
from flowcast.publish.roads.screens import route_plans
from flowcast.publish.spots.cap import alert_messages
from flowcast.serve.destination import local_time
from flowcast.serve.http import HttpServer, create_app
from flowcast.serve.view import LiveView
from serve.http.chromium import chromium, layout_problems, screenshot, viewport, wait_js

pytestmark = pytest.mark.browser

T = MORNING_MS
HOUR = 3_600_000
SCREEN_SIZE = (1920, 1080)  # the guidance screen's resolution
DESK_SIZE = (1600, 1000)  # the bureau's desk
DEST = "wuzhizhou-island"
ADVICE_WORDS = {"take": "TAKE", "avoid": "AVOID", "alternative": "OK", "full": "FULL",
                "unknown": "NO DATA"}
SCREEN_INSIDE = [
    (".route > *, .route-name, .route-time, .chip, .advice", ".route"),
    (".route", "#routes"), ("#notice-text, #notice-instead", "#notice"),
    (".map-label, .spot-dot, .screen-dot", "#map"), ("#map, #legend", ".map-box"),
    (".screen-title, .screen-meta, .destination", ".screen-head")]
SCREEN_APART = [
    {"scope": "#map", "a": ".map-label", "b": ".map-label, .spot-dot, .screen-dot"},
    {"scope": ".route", "a": ":scope > *", "b": ":scope > *"},
    {"scope": ".screen-head", "a": ":scope > *", "b": ":scope > *"},
    {"scope": ".screen-main", "a": ":scope > *", "b": ":scope > *"}]
BUREAU_INSIDE = [
    (".alert-top > *, .headline, .instruction, .figures, .facts", ".alert"),
    ("h3, .spot-facts, .spot-day, .gauge, .peak-note, .curve, .legend-line", ".spot"),
    (".gauge-label, .gauge-value, .gauge-bar", ".gauge")]
BUREAU_APART = [{"scope": ".gauge", "a": ".gauge-label", "b": ".gauge-bar, .gauge-label"}]


def _scenario_city() -> City:
    """The demo's city (``flowcast demo``), its first screen moved next to its destination so
    that "YOU ARE HERE" and the spot's name compete for the same place on the map."""
    city = generate_city(300, 5, seed=7)
    k = int(np.flatnonzero(city.spot_ids == DEST)[0])
    lon, lat = (float(v) for v in city.spot_lonlat[k])
    first = dataclasses.replace(city.screens[0], lonlat=(lon + 0.0003, lat + 0.0002))
    return dataclasses.replace(city, screens=(first, *city.screens[1:]))


def _feed(view: LiveView) -> None:
    city, topics = view.city, view.settings.topics
    speed = city.segment_free_flow_kmh.astype(np.float64).copy()
    for screen in city.screens:  # every road green but one route of each screen, jammed
        plans = route_plans(city, screen)
        others = {s for p in plans[:-1] for s in p.segments}
        own = [s for s in plans[-1].segments if s not in others]
        speed[city.segment_index(own)] = 8.0
    apply_records(view, topics.road_conditions, condition_records(view.city, view.settings,
                                                                  T, speed))
    figures = {DEST: [(1.0, 1.1), (1.25, 1.0), (1.2, 0.88)]}  # 125 % at 08:45, falling
    rest = [(0.5, 0.6), (0.3, 0.4), (0.6, 0.7), (0.2, 0.3)]
    figures |= {str(s): [f] * 3 for s, f in zip(city.spot_ids[1:], rest, strict=True)}
    for n, issued in enumerate((T - 1_800_000, T - 900_000, T)):
        for spot, values in figures.items():
            apply_records(view, topics.spot_forecasts,
                          [r for r in spot_records(city, issued, *values[n])
                           if r[0] == spot.encode()])
    ids = city.spot_ids.tolist()
    for spot, start in ((ids[1], T - 24 * HOUR), (ids[2], T - 20 * HOUR), (ids[3], T - 8 * HOUR),
                        (ids[4], T - 7 * HOUR), (ids[1], T - 6 * HOUR)):
        apply_records(view, topics.spot_alerts, alert_messages(alert_lifecycle(city, spot, start)))
    active = alert_lifecycle(city, DEST, T - 3 * HOUR)[:-1]
    apply_records(view, topics.spot_alerts, alert_messages(active))


@pytest.fixture(scope="module")
def scene() -> Iterator[dict[str, Any]]:
    settings = live_settings()
    view = LiveView(_scenario_city(), settings)
    _feed(view)
    server = HttpServer(create_app(view, settings), "127.0.0.1", 0)
    url = server.start()
    yield {"view": view, "url": url, "city": view.city}
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = chromium(*SCREEN_SIZE)
    yield driver
    driver.quit()


def test_the_screen_knows_its_destination_and_nothing_overlaps(scene: dict[str, Any],
                                                              browser: Any) -> None:
    view, city = scene["view"], scene["city"]
    viewport(browser, *SCREEN_SIZE)
    words: set[str] = set()
    for screen in city.screens:
        expected = view.screen(screen.id)
        browser.get(f"{scene['url']}/screen?id={screen.id}")
        wait_js(browser, "return document.body.dataset.loaded === 'true' && "
                         f"document.body.dataset.issuedAt === '{T}' && "
                         "document.querySelectorAll('.map-label').length > 0",
                f"{screen.id} to load its ranking and its map")
        cards = browser.execute_script(
            "return [...document.querySelectorAll('.route')].map(r => [r.dataset.route, "
            "r.querySelector('.route-name').textContent, r.dataset.advice, "
            "r.querySelector('.advice').textContent])")
        routes = expected["routes"]
        assert [c[0] for c in cards] == [r["route"] for r in routes]
        assert [c[1] for c in cards] == [r["name"] for r in routes]
        assert len({c[1] for c in cards}) == len(cards), "two routes share a name"
        assert [c[3] for c in cards] == [ADVICE_WORDS[r["advice"]] for r in routes]
        words |= {c[3] for c in cards}
        notice = browser.execute_script(
            "const n = document.getElementById('notice'); return [n.hidden, n.dataset.state, "
            "document.getElementById('notice-text').textContent, "
            "document.getElementById('notice-instead').textContent]")
        spot = expected["destination_spot"]
        if screen.destination == "Wuzhizhou Island":
            # the bureau closes the entrances: the screen says so and never says TAKE
            assert spot["state"] == "full" and spot["alert"]["level"] == "critical"
            assert notice == [False, "full", "Wuzhizhou Island full, expect entry limits",
                              spot["instead"]]
            assert spot["instead"] == "Try " + " or ".join(
                a["name"] for a in spot["alternatives"]) + " instead"
            assert {a["suggested_by"] for a in spot["alternatives"]} == {"alert"}
            assert all(a["name"] in view.alerts()[0]["instruction"]
                       for a in spot["alternatives"])
            assert "TAKE" not in [c[3] for c in cards] and cards[0][3] == "FULL"
        else:
            assert notice[0] is True and spot["state"] == "ok"
            assert cards[0][3] == "TAKE"
        # green routes a minute or two slower are OK; the jammed one is AVOID
        assert [c[3] for c in cards][1:-1] in ([], ["OK"], ["FULL"])
        assert cards[-1][3] == "AVOID"
        problems = layout_problems(browser, SCREEN_INSIDE, SCREEN_APART)
        assert problems == [], "\n".join(problems)
        fits = browser.execute_script("return [document.documentElement.scrollHeight, "
                                      "window.innerHeight, window.innerWidth]")
        assert fits[0] <= fits[1] and fits[2] == SCREEN_SIZE[0], "the sign needs scrolling"
        screenshot(browser, f"screen-{screen.id}-full-destination.png")
    assert {"FULL", "AVOID", "TAKE"} <= words


def test_the_bureau_shows_figures_now_peaks_with_times_and_folds_cancelled_alerts(
        scene: dict[str, Any], browser: Any) -> None:
    view, city = scene["view"], scene["city"]
    viewport(browser, *DESK_SIZE)
    browser.get(f"{scene['url']}/bureau")
    wait_js(browser, "return document.body.dataset.loaded === 'true'", "the bureau page")
    zone = city.zone
    active, *cancelled = view.alerts(include_cancelled=True)
    assert active["status"] == "active" and len(cancelled) == 5
    # cancelled alerts folded away below the active one; the spots show without scrolling
    fold = browser.execute_script(
        "const f = document.getElementById('cancelled-alerts');"
        "const cards = [...f.querySelectorAll('.alert')];"
        "const active = document.querySelector('.alert[data-status=\"active\"]');"
        "return [f.open, cards.length, cards.filter(c => c.checkVisibility()).length,"
        " Boolean(active.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING),"
        " document.getElementById('spots').getBoundingClientRect().top, window.innerHeight]")
    assert fold[:4] == [False, 5, 0, True]
    assert fold[4] < fold[5] - 200, "the spots are pushed below the fold"
    # the alert: the figures now beside the ones it was sent with, times as people write them
    current, sent = active["current"], active["figures"]
    assert current["peak_passed"] and current["day_high"] == 1.25
    rows = browser.execute_script(
        f"const a = document.querySelector('.alert[data-alert=\"{active['identifier']}\"]');"
        "return [...a.querySelectorAll('.figures tr')].map(r => [...r.children]"
        ".map(c => c.textContent)).concat([[a.querySelector('.alert-state').textContent]])")
    assert rows[1] == ["current", "120%", f"125% at {local_time(T - 900_000, T, zone)} (passed)",
                       "09:00"]
    assert rows[2] == ["when sent", f"{round(sent['saturation_now'] * 100)}%",
                       f"{round(sent['saturation_peak'] * 100)}% at "
                       f"{local_time(sent['peak_at'], T, zone)}",
                       local_time(active["sent_at"], T, zone)]
    assert rows[3] == [f"Update · sent {local_time(active['sent_at'], T, zone)}"]
    # the gauges: the peak has its time, never below now without saying it has passed
    gauges = browser.execute_script(
        "return [...document.querySelectorAll('.spot')].map(s => [s.dataset.spot, "
        "[...s.querySelectorAll('.gauge-bar')].map(b => [b.dataset.kind, "
        "Number(b.dataset.ratio)]), [...s.querySelectorAll('.gauge-label')]"
        ".map(l => l.textContent), (s.querySelector('.peak-note') || {}).textContent])")
    for spot, bars, labels, note in gauges:
        entry = view.spot(spot)
        (now_kind, now), (peak_kind, peak) = bars
        assert now_kind == "now" and peak >= now, spot
        if spot == DEST:
            assert (peak_kind, peak, labels[1]) == ("peak-passed", 1.25, "peak 08:45")
            assert note == "peak passed: 125% at 08:45; at most 120% ahead (10:00)"
        else:
            assert (peak_kind, peak) == ("peak", entry["saturation_peak"])
            assert labels[1] == f"peak {local_time(entry['peak_at'], T, zone)}" == "peak 15:00"
            assert note is None
    problems = layout_problems(browser, BUREAU_INSIDE, BUREAU_APART)
    assert problems == [], "\n".join(problems)
    screenshot(browser, "bureau-folded.png")
    # unfolded: yesterday's alert says its day; no raw ISO time anywhere on the page
    browser.find_element("css selector", "#cancelled-alerts > summary").click()
    oldest = cancelled[-1]
    state = wait_js(browser, "const a = document.querySelector("
                             f"'.alert[data-alert=\"{oldest['identifier']}\"]');"
                             "return a && a.checkVisibility() && "
                             "a.querySelector('.alert-state').textContent",
                    "the cancelled alerts to unfold")
    assert state == f"cancelled · {local_time(oldest['sent_at'], T, zone)}"
    assert state.startswith("cancelled · Thu 1 Oct ")
    text = browser.execute_script("return document.body.innerText")
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), "a raw ISO time on the page"
    problems = layout_problems(browser, BUREAU_INSIDE, BUREAU_APART)
    assert problems == [], "\n".join(problems)
    screenshot(browser, "bureau-unfolded.png")
