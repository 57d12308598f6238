"""The portal's scrape-time gauges: the broker's queue depths and webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from portal import routing
from portal.models import WebhookDelivery

# kombu's Redis transport keeps a queue's messages of priority p > 0 in a list of its own.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each known queue (Redis broker only: list lengths)."""
    from portal.celery import app

    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        if conn.transport_cls not in ("redis", "rediss"):
            return depths
        conn.ensure_connection(max_retries=1, timeout=1)
        client = cast(Any, conn.default_channel).client  # the Redis channel's
        pipe = client.pipeline()
        queues = routing.all_queues()
        for queue in queues:
            for step in _PRIORITY_STEPS:
                pipe.llen(queue if step == 0 else f"{queue}{_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
        for i, queue in enumerate(queues):
            n = len(_PRIORITY_STEPS)
            depths[queue] = sum(int(v or 0) for v in lengths[i * n : (i + 1) * n])
    return depths


def broker_source() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "nuage_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
    )
    for queue, depth in queue_depths().items():
        family.add_metric([queue], depth)
    yield family


def webhooks_source() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "nuage_webhook_deliveries",
        "Webhook deliveries by status (failed: given up after every attempt).",
        labels=["status"],
    )
    counts = dict(
        WebhookDelivery.objects.unscoped()
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    for status in WebhookDelivery.Status.values:
        family.add_metric([status], counts.get(status, 0))
    yield family
