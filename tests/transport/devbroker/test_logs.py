"""The local broker's log configuration."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from flowcast.transport.devbroker.logs import render_log4j2


def test_log4j2_config_sends_warnings_to_the_file_only(tmp_path: Path) -> None:
    log_file = tmp_path / "a&b <c>" / "broker.log"
    root = ET.fromstring(render_log4j2(log_file))
    appenders = root.find("Appenders")
    assert appenders is not None
    assert [child.tag for child in appenders] == ["File"]
    assert appenders[0].get("fileName") == str(log_file)
    logger = root.find("Loggers/Root")
    assert logger is not None and logger.get("level") == "WARN"
