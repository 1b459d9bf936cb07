"""Process metrics: counters, gauges and latency summaries, in Prometheus' text format.

One :class:`Metrics` per engine. Names follow Prometheus conventions (``flowcast_*_total`` for
counters, base units: seconds). Thread-safe: the HTTP server reads while the engine writes.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque

import numpy as np

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters, gauges and windowed summaries keyed by name and labels."""

    def __init__(self, window: int = 2048) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._samples: dict[str, deque[float]] = {}
        self._window = window
        self._help: dict[str, str] = {}

    def describe(self, name: str, text: str) -> None:
        """Set the ``# HELP`` text of a metric."""
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to a counter."""
        key = _labels(labels)
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        with self._lock:
            self._gauges[name][_labels(labels)] = value

    def observe(self, name: str, value: float) -> None:
        """Record one sample (e.g. a latency in seconds) of a summary."""
        with self._lock:
            if name not in self._samples:
                self._samples[name] = deque(maxlen=self._window)
            self._samples[name].append(value)

    def counter(self, name: str, **labels: str) -> float:
        """A counter's value (0 when never incremented)."""
        with self._lock:
            return self._counters.get(name, {}).get(_labels(labels), 0.0)

    def counters(self, name: str) -> dict[Labels, float]:
        """Every labelled series of a counter."""
        with self._lock:
            return dict(self._counters.get(name, {}))

    def gauge(self, name: str, **labels: str) -> float | None:
        """A gauge's value, or None when never set."""
        with self._lock:
            return self._gauges.get(name, {}).get(_labels(labels))

    def quantiles(self, name: str, qs: tuple[float, ...] = (0.5, 0.99)) -> dict[float, float]:
        """Quantiles of a summary's recent samples (empty when it has none)."""
        with self._lock:
            samples = np.array(self._samples.get(name, ()), dtype=np.float64)
        if not len(samples):
            return {}
        return {q: float(np.quantile(samples, q)) for q in qs}

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            counters = {k: dict(v) for k, v in self._counters.items()}
            gauges = {k: dict(v) for k, v in self._gauges.items()}
            samples = {k: np.array(v, dtype=np.float64) for k, v in self._samples.items()}
        for kind, table in (("counter", counters), ("gauge", gauges)):
            for name in sorted(table):
                lines += self._header(name, kind)
                lines += [f"{name}{_format(key)} {value:g}" for key, value in
                          sorted(table[name].items())]
        for name in sorted(samples):
            lines += self._header(name, "summary")
            values = samples[name]
            for q in (0.5, 0.9, 0.99):
                if len(values):
                    lines.append(f'{name}{{quantile="{q}"}} {np.quantile(values, q):g}')
            lines.append(f"{name}_sum {values.sum():g}")
            lines.append(f"{name}_count {len(values)}")
        return "\n".join(lines) + "\n"

    def _header(self, name: str, kind: str) -> list[str]:
        text = self._help.get(name)
        return ([f"# HELP {name} {text}"] if text else []) + [f"# TYPE {name} {kind}"]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _format(key: Labels) -> str:
    if not key:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
