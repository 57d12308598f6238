"""Metering's scrape-time gauges: how far behind sampling and rollups are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from compute.choices import HostStatus
from compute.models import Host, host_status_q
from metering.models import MeterHourly, MeterSample


def sampling_lags() -> list[float]:
    """Seconds since each sampled host's newest sample (one index probe per host); a host never
    sampled counts from its registration."""
    newest = MeterSample.objects.filter(host=OuterRef("pk")).order_by("-at").values("at")[:1]
    rows = (
        Host.objects.filter(host_status_q(HostStatus.UP, HostStatus.MAINTENANCE))
        .order_by()
        .annotate(newest=Subquery(newest))
        .values_list("newest", "created_at")
    )
    now = timezone.now()
    return [max(0.0, (now - (at or created)).total_seconds()) for at, created in rows]


def metering_source() -> Iterator[Metric]:
    lags = sampling_lags()
    worst = GaugeMetricFamily(
        "nuage_metering_lag_seconds",
        "Seconds since the newest sample of the host sampled longest ago (up and maintenance "
        "hosts); above a few sampling intervals, metering is falling behind.",
    )
    worst.add_metric([], max(lags, default=0.0))
    yield worst
    hourly = MeterHourly.objects.unscoped().aggregate(newest=Max("bucket"))["newest"]
    rollup = GaugeMetricFamily(
        "nuage_metering_rollup_lag_seconds",
        "Seconds since the end of the newest hour rolled up (0 before any rollup).",
    )
    rollup.add_metric(
        [],
        max(0.0, (timezone.now() - hourly - timedelta(hours=1)).total_seconds()) if hourly else 0.0,
    )
    yield rollup
