"""The local broker's log files, their tails, and the error that carries them to the user."""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

LOG_FILE = "broker.log"  # log4j2 output, WARN and above
CONSOLE_FILE = "console.log"  # the JVM's own stdout/stderr (crashes before log4j starts)


class LocalKafkaError(RuntimeError):
    """The local broker could not be provisioned or started; the message carries its log tail."""


def render_log4j2(log_file: Path) -> str:
    """A log4j2 XML config sending WARN and above to ``log_file`` only (a quiet console)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="ERROR">
  <Appenders>
    <File name="file" fileName={quoteattr(str(log_file))} append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def read_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file (read from its last 64 KiB); "" if unreadable."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return tail_lines(text.splitlines(), lines)


def tail_lines(lines: list[str], count: int) -> str:
    """The last ``count`` of ``lines``, joined by newlines."""
    return "\n".join(lines[-count:])
