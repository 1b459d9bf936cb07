"""Headless Chromium for the page tests: a driver with an exact viewport, waits, screenshots, and
layout checks read from the elements' bounding boxes (``getBoundingClientRect``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_harness import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

# Given {"inside": [[selector, container selector], ...], "apart": [{"scope", "a", "b"}, ...]},
# lists what breaks the layout: an element (or the text in it) outside its closest container,
# text wider than its own box, an "a" overlapping a "b" in the same scope, and a page wider
# than the window. Elements not shown (not displayed, in a closed ``<details>``) are
# skipped.
_LAYOUT_JS = r"""
const spec = arguments[0];
const tol = 0.5;
const out = [];
const shown = (e) => e.getClientRects().length > 0 && e.checkVisibility();
const label = (e) => {
  const cls = typeof e.className === "string" ? e.className : e.className.baseVal;
  return `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${cls.split(" ").join(".")}` +
    ` "${(e.textContent || "").trim().slice(0, 40)}"`;
};
const inside = (a, b) => a.left >= b.left - tol && a.right <= b.right + tol &&
  a.top >= b.top - tol && a.bottom <= b.bottom + tol;
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > tol &&
  Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > tol;
const textBox = (e) => {
  if (e instanceof SVGElement) return e.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(e);
  return range.getBoundingClientRect();
};
for (const [selector, container] of spec.inside) {
  for (const e of document.querySelectorAll(selector)) {
    if (!shown(e)) continue;
    const box = (e.parentElement || e.parentNode).closest(container);
    if (!box) { out.push(`${label(e)} is not inside any ${container}`); continue; }
    const outer = box.getBoundingClientRect();
    if (!inside(e.getBoundingClientRect(), outer)) {
      out.push(`${label(e)} overflows ${label(box)}`);
    }
    const text = textBox(e);
    if (text.width > 0 && !inside(text, outer)) {
      out.push(`the text of ${label(e)} runs out of ${label(box)}`);
    }
    if (!(e instanceof SVGElement) && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
      out.push(`${label(e)} is wider inside (${e.scrollWidth}) than its box (${e.clientWidth})`);
    }
  }
}
for (const group of spec.apart) {
  for (const scope of document.querySelectorAll(group.scope)) {
    const as = [...scope.querySelectorAll(group.a)].filter(shown);
    const bs = [...scope.querySelectorAll(group.b)].filter(shown);
    for (const a of as) {
      for (const b of bs) {
        if (a === b || (bs.includes(a) && as.includes(b) && as.indexOf(b) < as.indexOf(a))) {
          continue;
        }
        if (overlap(a.getBoundingClientRect(), b.getBoundingClientRect())) {
          out.push(`${label(a)} overlaps ${label(b)}`);
        }
      }
    }
  }
}
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) {
  out.push(`the page is wider (${doc.scrollWidth}) than the window (${window.innerWidth})`);
}
return out;
"""


def chromium(width: int, height: int) -> Any:
    """A headless Chromium whose viewport is exactly ``width`` x ``height`` CSS pixels."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing: install the chromium and "
                    "chromium-driver packages (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--disable-background-networking", f"--window-size={width},{height}",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    viewport(driver, width, height)
    ARTIFACTS.mkdir(exist_ok=True)
    return driver


def viewport(driver: Any, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels, scale 1."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def wait_js(driver: Any, script: str, what: str, timeout_s: float = 15.0) -> Any:
    """Run ``script`` in the page until it returns something truthy; return that."""
    return wait_for(lambda: driver.execute_script(script), timeout_s, what)


def layout_problems(driver: Any, inside: list[tuple[str, str]],
                    apart: list[dict[str, str]]) -> list[str]:
    """What breaks the page's layout now (empty when nothing): see ``_LAYOUT_JS``."""
    return list(driver.execute_script(_LAYOUT_JS, {"inside": inside, "apart": apart}))


def screenshot(driver: Any, name: str) -> Path:
    """Save what the viewport shows to ``test-artifacts/<name>``."""
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{name} looks empty"
    return path
