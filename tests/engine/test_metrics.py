"""Process metrics and their Prometheus text, and the rule that every metric family has a
``# HELP`` description."""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import flowcast
from flowcast.engine.metrics import Metrics


def test_counters_gauges_and_summaries_render_as_prometheus_text() -> None:
    m = Metrics()
    m.describe("flowcast_deadletters_total", "Refused input")
    m.inc("flowcast_deadletters_total", 2, reason="unknown_sensor")
    m.inc("flowcast_deadletters_total", reason="unknown_sensor")
    m.inc("flowcast_deadletters_total", reason='odd"quote')
    m.set("flowcast_consumer_lag_total", 17)
    for v in (0.1, 0.2, 0.3, 0.4):
        m.observe("flowcast_close_to_ack_seconds", v)
    assert m.counter("flowcast_deadletters_total", reason="unknown_sensor") == 3
    assert m.counter("flowcast_deadletters_total", reason="none") == 0
    assert m.gauge("flowcast_consumer_lag_total") == 17
    assert m.quantiles("flowcast_close_to_ack_seconds")[0.5] == 0.25
    text = m.render()
    assert "# HELP flowcast_deadletters_total Refused input" in text
    assert "# TYPE flowcast_deadletters_total counter" in text
    assert 'flowcast_deadletters_total{reason="unknown_sensor"} 3' in text
    assert 'flowcast_deadletters_total{reason="odd\\"quote"} 1' in text
    assert "flowcast_consumer_lag_total 17" in text
    assert "flowcast_close_to_ack_seconds_count 4" in text
    assert text.endswith("\n")


# ----- the rule: every metric family has a description --------------------------------------
PACKAGE = Path(flowcast.__file__).resolve().parent
WRITES = ("inc", "set", "observe")


def _pattern(node: ast.expr) -> str | None:
    """A metric-name argument as text, each hole of an f-string as ``*``; None for anything
    else (a variable)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(part.value) if isinstance(part, ast.Constant) else "*"
                       for part in node.values)
    return None


def _last_name(node: ast.expr) -> str:
    """The last name of a call's receiver: ``metrics`` for ``self.models.metrics``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


@functools.cache
def _calls() -> tuple[tuple[str, ast.Call], ...]:
    """Every call in the package, with its place (``flowcast/engine/loop.py:12``)."""
    return tuple((f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node)
                 for path in sorted(PACKAGE.rglob("*.py"))
                 for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
                 if isinstance(node, ast.Call))


def _metric_families() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(written, described)``: each family name (pattern) written through a
    :class:`Metrics` (``metrics.inc/set/observe``) and each one described, with their places."""
    written: dict[str, list[str]] = defaultdict(list)
    described: dict[str, list[str]] = defaultdict(list)
    for where, call in _calls():
        if not isinstance(call.func, ast.Attribute) or not call.args:
            continue
        name = _pattern(call.args[0])
        if name is None:
            continue
        if call.func.attr == "describe" and len(call.args) == 2:
            text = _pattern(call.args[1])
            assert text and text.strip(), f"{where}: describe({name!r}) has no text"
            described[name].append(where)
        elif call.func.attr in WRITES and _last_name(call.func.value).endswith("metrics"):
            written[name].append(where)
    return written, described


def test_every_metric_family_written_is_described() -> None:
    """A family written through ``Metrics`` anywhere in flowcast has a ``describe`` with the
    same name (an f-string name: the same f-string shape) somewhere in flowcast."""
    written, described = _metric_families()
    # the scan sees the families it must: literal names, and f-string ones of both shapes
    assert {"flowcast_readings_total", "flowcast_broker_connected", "flowcast_alerts_total",
            "flowcast_*_cycle_seconds", "*_info", "*_loads_total"} <= written.keys()
    missing = {name: places for name, places in written.items() if name not in described}
    assert missing == {}, ("metric families without Metrics.describe(name, text) in the module "
                           f"that owns them: {missing}")


def test_every_collector_family_has_documentation() -> None:
    """A family yielded by a collector (``GaugeMetricFamily(name, documentation, ...)``, as the
    live view's) has a non-empty documentation."""
    families = 0
    for where, call in _calls():
        if _last_name(call.func).endswith("MetricFamily"):
            families += 1
            given = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "documentation"), None)
            text = _pattern(given) if given is not None else None
            assert text and text.strip(), f"{where}: a metric family without documentation"
    assert families >= 6  # the view's five and the SSE clients


def test_an_undescribed_family_renders_an_empty_help() -> None:
    """Why the rule: prometheus-client writes an empty ``# HELP`` for a family without one."""
    m = Metrics()
    m.inc("flowcast_example_total")
    m.describe("flowcast_described_total", "Described; unit: things")
    m.inc("flowcast_described_total")
    lines = m.render().splitlines()
    assert "# HELP flowcast_example_total " in lines
    assert "# HELP flowcast_described_total Described; unit: things" in lines
