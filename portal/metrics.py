"""Prometheus metrics: counters and histograms observed where things happen, gauges read from
the database when /metrics is scraped.

Counters and histograms live in the process that observes them: the web process counts quota
rejections, workers time provisioning steps and count webhook failures. With several processes
(gunicorn workers, a prefork Celery pool) set PROMETHEUS_MULTIPROC_DIR to a folder private to
the container; the web's /metrics then sums its processes, and a worker started with
NUAGE_WORKER_METRICS_PORT serves its own on that port (docs/operations.md).

Gauges (VMs by state, operations in flight, hosts by status, metering lag, queue depth,
webhook deliveries) are the same for every process: a collector reads them from the database
and the broker at scrape time, with one aggregate query each. Each app registers the gauges of
its own tables from its AppConfig.ready (`register_source`), as portal imports no app above it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIServer

from celery.signals import worker_process_shutdown, worker_ready
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# --- observed in the code paths ----------------------------------------------------------

# A provisioning step takes from well under a second (test driver) to minutes (a disk copy).
_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_E2E_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800)

STEP_SECONDS = Histogram(
    "nuage_operation_step_seconds",
    "Time a worker spent running one operation step, by operation kind and step.",
    ["kind", "step"],
    buckets=_STEP_BUCKETS,
)
OPERATION_SECONDS = Histogram(
    "nuage_operation_seconds",
    "From an operation's creation (approval, action) to its end, by kind and outcome.",
    ["kind", "status"],
    buckets=_E2E_BUCKETS,
)
PROVISIONING_SECONDS = Histogram(
    "nuage_provisioning_seconds",
    "End-to-end provisioning: from the approved request to the VM running.",
    buckets=_E2E_BUCKETS,
)
WEBHOOK_FAILURES = Counter(
    "nuage_webhook_failures",
    "Webhook delivery attempts that failed, by reason (http, network, refused).",
    ["reason"],
)
QUOTA_REJECTIONS = Counter(
    "nuage_quota_rejections",
    "Requests refused because the environment's quota had no room left.",
)


def observe_since(histogram: Histogram, started: float, **labels: str) -> None:
    """Observe the seconds since `started` (time.monotonic()) with `labels`."""
    (histogram.labels(**labels) if labels else histogram).observe(time.monotonic() - started)


# --- read at scrape time --------------------------------------------------------------------

# A source yields metric families (GaugeMetricFamily...) from one or a few aggregate queries.
Source = Callable[[], Iterable[Metric]]
_SOURCES: dict[str, Source] = {}


def register_source(name: str, source: Source) -> None:
    """Add (or replace) the scrape-time gauges of an app; called from an AppConfig.ready."""
    _SOURCES[name] = source


class DatabaseCollector(Collector):
    """Every registered source, at scrape time; a failing source is reported, not fatal."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "nuage_scrape_errors", "Sources that failed during this scrape.", labels=["source"]
        )
        duration = GaugeMetricFamily(
            "nuage_scrape_source_seconds", "Time each source took this scrape.", labels=["source"]
        )
        for name, source in list(_SOURCES.items()):
            started = time.monotonic()
            try:
                yield from list(source())
                failed = 0
            except Exception:
                logger.exception("metrics source %s failed", name)
                failed = 1
            errors.add_metric([name], failed)
            duration.add_metric([name], time.monotonic() - started)
        yield errors
        yield duration


def _process_registry() -> CollectorRegistry:
    """This process's counters, or every process's when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(*, with_database: bool = True) -> tuple[bytes, str]:
    """The text format and its content type: the process metrics, then the gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(_process_registry()))
    if with_database:
        registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


# --- a worker's own exporter ----------------------------------------------------------------

_server: WSGIServer | None = None
_server_lock = threading.Lock()


def worker_exporter_start(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - in a container
    """Serve this worker's counters and histograms (not the gauges: the web has those)."""
    global _server
    from prometheus_client import start_http_server

    with _server_lock:
        if _server is not None:
            return
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Forward(_process_registry()))
        _server, _thread = start_http_server(port, addr=addr, registry=registry)
        logger.info("worker metrics on port %s", port)


def process_dead(pid: int) -> None:
    """Forget a finished pool process's live gauges (multiprocess mode only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def _on_worker_ready(**_kwargs: object) -> None:
    from django.conf import settings

    port = int(settings.NUAGE.get("WORKER_METRICS_PORT") or 0)
    if port:
        worker_exporter_start(port)


def _on_process_shutdown(pid: int | None = None, **_kwargs: object) -> None:
    process_dead(pid or os.getpid())


worker_ready.connect(_on_worker_ready, weak=False)
worker_process_shutdown.connect(_on_process_shutdown, weak=False)
