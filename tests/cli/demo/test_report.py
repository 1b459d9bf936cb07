"""The demo's terminal report: alerts as they come, a status line per spot cycle, the summary."""

from __future__ import annotations

from flowcast.cli.demo.report import TerminalReport
from flowcast.ingest.simulator import generate_city


def test_terminal_report_prints_alerts_and_a_status_per_spot_cycle() -> None:
    city = generate_city(40, 2, seed=3)
    lines: list[str] = []
    report = TerminalReport(city, lines.append)
    segment = str(city.segment_ids[0])
    report("condition", {"segment": segment, "issued_at": 0, "model": "m",
                         "now": {"level": 4}})
    for spot, sat in zip(city.spot_ids.tolist(), (0.5, 0.9), strict=True):
        report("spot", {"spot": spot, "issued_at": 900_000, "now": {"saturation": 0.3},
                        "forecast": [{"saturation": sat}]})
    assert len(lines) == 1 and "1 moderate" in lines[0] and "peak 90% forecast" in lines[0]
    spot = str(city.spot_ids[1])
    alert = {"identifier": "flowcast-x-1", "msgType": "Alert", "sent": "2026-10-02T08:30:00+08:00",
             "info": {"severity": "Moderate", "headline": f"{spot} expected at 90%",
                      "instruction": "Stop ticket sales.",
                      "parameter": [{"valueName": "spotId", "value": spot}]}}
    report("alert", alert)
    assert "ALERT RAISED (Moderate)" in lines[1] and "Stop ticket sales." in lines[2]
    assert report.summary.alerts == [{"msgType": "Alert", "spot": spot, "severity": "Moderate",
                                      "identifier": "flowcast-x-1",
                                      "sent": "2026-10-02T08:30:00+08:00"}]
    assert report.summary.conditions == 1 and report.summary.segments == {segment}
