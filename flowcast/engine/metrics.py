"""Process metrics on ``prometheus_client``: counters, gauges and latency histograms.

One :class:`Metrics` per engine, each with its own :class:`~prometheus_client.CollectorRegistry`
(two engines in one process, as in tests, never share a series). A metric is created on its
first use, with the label names of that use; names follow Prometheus conventions
(``flowcast_*_total`` for counters, base units: seconds). Every family has a ``# HELP`` text
with its unit, set by :meth:`Metrics.describe` in the module that owns the family, before its
first use; ``tests/engine/test_metrics.py`` fails on a family used without one. Latencies are
also kept in a window of recent samples for :meth:`Metrics.quantiles` (the CLI's status line,
the benchmarks). Thread-safe: the HTTP server reads while the engine writes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters, gauges and histograms keyed by name and labels."""

    def __init__(self, window: int = 2048) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._metrics: dict[str, MetricWrapperBase] = {}
        self._samples: dict[str, deque[float]] = {}
        self._window = window
        self._help: dict[str, str] = {}

    def describe(self, name: str, text: str) -> None:
        """Set the ``# HELP`` text of a metric (before its first use): what it counts or
        measures, its labels, and its unit."""
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to a counter (its name ends in ``_total``)."""
        self._series(Counter, name, labels).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self._series(Gauge, name, labels).set(value)

    def observe(self, name: str, value: float) -> None:
        """Record one sample (e.g. a latency in seconds) of a histogram."""
        self._series(Histogram, name, {}).observe(value)
        with self._lock:
            if name not in self._samples:
                self._samples[name] = deque(maxlen=self._window)
            self._samples[name].append(value)

    def counter(self, name: str, **labels: str) -> float:
        """A counter's value (0 when never incremented)."""
        return self._values(name).get(_labels(labels), 0.0)

    def counters(self, name: str) -> dict[Labels, float]:
        """Every labelled series of a counter."""
        return self._values(name)

    def gauge(self, name: str, **labels: str) -> float | None:
        """A gauge's value, or None when never set."""
        return self._values(name).get(_labels(labels))

    def quantiles(self, name: str, qs: tuple[float, ...] = (0.5, 0.99)) -> dict[float, float]:
        """Quantiles of a histogram's recent samples (empty when it has none)."""
        with self._lock:
            samples = np.array(self._samples.get(name, ()), dtype=np.float64)
        if not len(samples):
            return {}
        return {q: float(np.quantile(samples, q)) for q in qs}

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(_WithoutCreated(self.registry)).decode()

    def _series(self, kind: type[MetricWrapperBase], name: str,
                labels: dict[str, str]) -> MetricWrapperBase:
        """The series of ``name`` with ``labels``, creating the metric on first use."""
        if kind is Counter and not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name}")
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = kind(name, self._help.get(name, ""), labelnames=sorted(labels),
                              registry=self.registry)
                self._metrics[name] = metric
        if not isinstance(metric, kind):
            raise ValueError(f"{name} is a {type(metric).__name__}, not a {kind.__name__}")
        if not labels:
            return metric
        return metric.labels(**{k: str(v) for k, v in labels.items()})

    def _values(self, name: str) -> dict[Labels, float]:
        """Value of each labelled series of a counter or gauge (its samples named ``name``)."""
        with self._lock:
            metric = self._metrics.get(name)
        if metric is None:
            return {}
        return {_labels(s.labels): s.value for family in metric.collect()
                for s in family.samples if s.name == name}


class _WithoutCreated(Collector):
    """A registry's metrics less the ``*_created`` series, which the text format of the
    hand-written exposition never had."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        """The registry's metric families, each without its ``_created`` samples."""
        for family in self.registry.collect():
            created = family.name + "_created"
            family.samples = [s for s in family.samples if s.name != created]
            yield family


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))
