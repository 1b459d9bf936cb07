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
    names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(), strict=True))
    first, second = city.spot_ids.tolist()
    for spot, sat in ((first, 0.5), (second, 0.9)):
        report("spot", {"spot": spot, "issued_at": 900_000, "now": {"saturation": 0.3},
                        "forecast": [{"saturation": sat, "valid_at": 4_500_000}]})
    assert len(lines) == 1 and "1 moderate" in lines[0]
    assert f"busiest spot: {names[second]} 30% now, 90% expected at 09:15" in lines[0]
    spot = str(city.spot_ids[1])
    lines.clear()
    alert = {"identifier": "flowcast-x-1", "msgType": "Alert", "sent": "2026-10-02T08:30:00+08:00",
             "info": {"severity": "Moderate", "headline": f"{spot} expected at 90%",
                      "instruction": "Stop ticket sales.",
                      "parameter": [{"valueName": "spotId", "value": spot}]}}
    report("alert", alert)
    assert "ALERT RAISED (Moderate)" in lines[0] and "Stop ticket sales." in lines[1]
    assert report.summary.alerts == [{"msgType": "Alert", "spot": spot, "severity": "Moderate",
                                      "identifier": "flowcast-x-1",
                                      "sent": "2026-10-02T08:30:00+08:00"}]
    assert report.summary.conditions == 1 and report.summary.segments == {segment}


def test_the_busiest_spot_is_the_most_saturated_now_or_ahead() -> None:
    """A spot over capacity now beats one whose forecast peak is lower; past its peak it is
    said to be falling, not "peak lower than now"."""
    city = generate_city(40, 2, seed=3)
    names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(), strict=True))
    first, second = city.spot_ids.tolist()
    lines: list[str] = []
    report = TerminalReport(city, lines.append)
    report("spot", {"spot": first, "issued_at": 900_000, "now": {"saturation": 1.24},
                    "forecast": [{"saturation": 0.9, "valid_at": 4_500_000}]})
    report("spot", {"spot": second, "issued_at": 900_000, "now": {"saturation": 0.74},
                    "forecast": [{"saturation": 0.85, "valid_at": 4_500_000}]})
    assert lines[-1].endswith(f"busiest spot: {names[first]} 124% now and falling")
