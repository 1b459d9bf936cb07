"""The guidance screen and the bureau page in a real headless Chromium, against a real uvicorn
server whose live view is fed by the real engine over the in-process bus (a Golden-Week morning
that raises saturation alerts). Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_harness import TOKEN, LiveCity, wait_for

from flowcast.serve.service import Service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


@pytest.fixture(scope="module")
def live() -> Iterator[dict[str, Any]]:
    city = LiveCity().start(hours=8)
    service = Service.start(city.city, city.settings, city.output_consumer(), port=0,
                            clock_ms=city.clock.now_ms)
    view = service.view
    wait_for(lambda: view.ready.is_set() and view.alerts(), what="conditions and an alert")
    yield {"city": city, "view": view, "url": service.url}
    service.close()
    city.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing: install the chromium and "
                    "chromium-driver packages (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--window-size=1600,1000",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def _wait(driver: Any, script: str, what: str, timeout_s: float = 15.0) -> Any:
    return wait_for(lambda: driver.execute_script(script), timeout_s, what)


def _shot(driver: Any, name: str) -> None:
    """Save a screenshot of the whole page (the window grown to the page's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1600, max(1000, min(int(height) + 120, 4000)))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(1600, 1000)
    assert path.stat().st_size > 10_000, f"{name} looks empty"


def _console_errors(driver: Any) -> list[str]:
    try:
        logs = driver.get_log("browser")
    except Exception:  # not every driver exposes logs
        return []
    return [entry["message"] for entry in logs if entry.get("level") == "SEVERE"]


def test_screen_shows_ranked_routes_and_updates_live(live: dict[str, Any],
                                                     browser: Any) -> None:
    view, city = live["view"], live["city"]
    screen = city.city.screens[0]
    browser.get(f"{live['url']}/screen?id={screen.id}")
    _wait(browser, "return document.body.dataset.loaded === 'true' && "
                   "document.querySelectorAll('.route[data-rank=\"1\"]').length === 1",
          "the screen page to load its routes")
    expected = view.screen(screen.id)
    cards = browser.execute_script(
        "return [...document.querySelectorAll('.route')].map(r => [r.dataset.route, "
        "r.dataset.rank, r.dataset.advice, r.querySelector('.advice').textContent])")
    assert [c[0] for c in cards] == [r["route"] for r in expected["routes"]]
    assert [c[1] for c in cards] == [str(r["rank"]) for r in expected["routes"]]
    # the best road is TAKE, or FULL when its destination spot is full by the time a driver
    # gets there (tests/serve/http/test_layout_browser.py has that scenario)
    words = {"take": "TAKE", "avoid": "AVOID", "alternative": "OK", "full": "FULL",
             "unknown": "NO DATA"}
    assert [c[2] for c in cards] == [r["advice"] for r in expected["routes"]]
    assert [c[3] for c in cards] == [words[c[2]] for c in cards]
    assert expected["routes"][0]["road_advice"] == "take" and cards[0][2] in ("take", "full")
    # now, +15, +30, +60 chips with a level number on each route
    chips = browser.execute_script(
        "return [...document.querySelectorAll('.route')[0].querySelectorAll('.chip')]"
        ".map(c => [c.querySelector('.chip-when').textContent, c.dataset.level])")
    assert [c[0] for c in chips] == ["now", "+15", "+30", "+60"]
    assert all(1 <= int(c[1]) <= 5 for c in chips)
    # every segment drawn, coloured by its current level
    drawn = _wait(browser, "const p = [...document.querySelectorAll('polyline.road')];"
                           "return p.every(x => x.dataset.level !== '0') && "
                           "p.map(x => [x.dataset.segment, x.dataset.level]);",
                  "every segment to be coloured")
    assert len(drawn) == city.city.n_segments
    assert dict(drawn) == {c["segment"]: str(c["now"]["level"]) for c in view.conditions()}
    _shot(browser, "screen.png")

    before = browser.execute_script("window.__sameDocument = 42; "
                                    "return document.body.dataset.issuedAt")
    assert before == str(expected["issued_at"])
    city.advance(minutes=15)
    newest = wait_for(lambda: (view.screen(screen.id) or {}).get("issued_at", 0) > int(before)
                      and view.screen(screen.id)["issued_at"], what="a newer screen ranking")
    _wait(browser, f"return document.body.dataset.issuedAt === '{newest}'",
          "the page to show the newer ranking")
    assert browser.execute_script("return window.__sameDocument") == 42, "the page reloaded"
    assert int(browser.execute_script("return document.body.dataset.events")) > 0
    _shot(browser, "screen-updated.png")
    assert _console_errors(browser) == []


def test_bureau_shows_spots_alerts_and_acknowledges(live: dict[str, Any],
                                                    browser: Any) -> None:
    view, city = live["view"], live["city"]
    browser.get(f"{live['url']}/bureau")
    _wait(browser, "return document.body.dataset.loaded === 'true'", "the bureau page to load")
    spots = browser.execute_script(
        "return [...document.querySelectorAll('.spot')].map(s => [s.dataset.spot, "
        "s.querySelectorAll('.gauge-bar').length, "
        "Number(s.querySelector('.curve').dataset.points || 0)])")
    assert [s[0] for s in spots] == city.city.spot_ids.tolist()
    assert all(bars == 2 for _, bars, _ in spots), "a gauge for now and for the peak"
    assert all(points > 4 for _, _, points in spots), "today's curve has the morning's points"
    # the day view: arrivals so far today (no earlier day in the ring: expected unknown)
    for spot in view.spots():
        day = spot["forecast"]["day"]
        line = (f"today: {round(day['arrivals_so_far']):,} arrivals so far, " +
                ("expected total unknown" if day["expected_arrivals"] is None else
                 f"~{round(day['expected_arrivals']):,} expected "
                 f"({round(day['saturation'] * 100)}% of daily capacity)"))
        shown_line = _wait(browser, "const d = document.querySelector("
                                    f"'.spot[data-spot=\"{spot['spot']}\"] .spot-day');"
                                    f"return d && d.dataset.date === '{day['date']}' && "
                                    f"d.textContent.startsWith({line!r}) && d.textContent",
                           f"{spot['spot']}'s day line")
        assert day["date"] == "2026-10-02" and day["arrivals_so_far"] > 0
        assert " · tomorrow " in shown_line
    active = {a["spot"]: a for a in view.alerts()}
    shown = browser.execute_script(
        "return [...document.querySelectorAll('.alert[data-status=\"active\"]')]"
        ".map(a => [a.dataset.spot, a.dataset.alert, a.querySelector('.headline').textContent])")
    assert {s[0] for s in shown} == set(active)
    for spot, identifier, headline in shown:
        assert identifier == active[spot]["identifier"]
        assert headline == active[spot]["headline"]
    _shot(browser, "bureau.png")

    spot, identifier = shown[0][0], shown[0][1]
    button = f".alert[data-alert='{identifier}'] button.ack"
    browser.find_element("css selector", button).click()
    prompt = wait_for(lambda: _prompt(browser), what="the token prompt")
    prompt.send_keys("wrong-token")
    prompt.accept()
    message = _wait(browser, "const m = document.getElementById('message');"
                             "return !m.hidden && m.textContent", "the refusal message")
    assert "401" in message and "wrong token" in message
    assert not view.alerts()[0]["acks"] and view.alert(identifier)["acks"] == []

    browser.find_element("css selector", button).click()
    prompt = wait_for(lambda: _prompt(browser), what="the token prompt again")
    prompt.send_keys(TOKEN)
    prompt.accept()
    _wait(browser, f"const a = document.querySelector(\".alert[data-alert='{identifier}']\");"
                   "return a && a.dataset.acknowledged === 'true'",
          "the alert to show as acknowledged")
    acks = view.alert(identifier)["acks"]
    assert [(a["spot"], a["by"]) for a in acks] == [(spot, "bureau desk")]
    _shot(browser, "bureau-acknowledged.png")


def _prompt(driver: Any) -> Any:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        prompt = driver.switch_to.alert
        _ = prompt.text
        return prompt
    except NoAlertPresentException:
        return None



@pytest.mark.parametrize("page", ["bureau?once", "screen?id=VMS01&once"])
def test_a_page_with_once_can_be_screenshot_by_chromium_alone(live: dict[str, Any],
                                                              page: str,
                                                              tmp_path: Path) -> None:
    """`chromium --virtual-time-budget --screenshot` returns only once the page goes idle: with
    `?once` the page takes the current state, the stream ends, and the screenshot comes."""
    import subprocess

    shot = tmp_path / "page.png"
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-dev-shm-usage", "--window-size=1600,1000",
         "--virtual-time-budget=8000", f"--screenshot={shot}", f"{live['url']}/{page}"],
        capture_output=True, timeout=90)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert shot.stat().st_size > 10_000
