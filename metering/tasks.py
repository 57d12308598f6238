"""Celery tasks of metering: one sampling cycle per host each interval, and the rollups; thin,
they call sampling.py.

The tasks were billing's, named `billing.meter_*`: beat schedules written before the move and
messages already queued under those names still run, through the aliases at the end.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from metering import sampling


@shared_task(name="metering.dispatch")
def meter_dispatch(**_kwargs: Any) -> int:
    """One sampling task per enabled host that answers, so that a slow host delays no other."""
    hosts = sampling.hosts_to_sample()
    interval = float(settings.NUAGE.get("METER_INTERVAL_SECONDS", 60.0))
    for host_id in hosts:
        # A cycle still queued when the next one is due is stale: the next one replaces it.
        meter_sample_host.apply_async((host_id,), expires=interval)
    return len(hosts)


@shared_task(name="metering.sample_host")
def meter_sample_host(host_id: int, **_kwargs: Any) -> dict[str, Any]:
    result = sampling.sample_host(host_id=host_id)
    return {"host": host_id, "domains": result.domains, "stored": result.stored}


@shared_task(name="metering.rollup")
def meter_rollup(**_kwargs: Any) -> dict[str, int]:
    result = sampling.rollup()
    return {"hourly": result.hourly, "daily": result.daily, "pruned": result.pruned}


# --- the names these tasks had in billing (in-flight messages, beat schedules not yet updated) --


@shared_task(name="billing.meter_dispatch")
def legacy_meter_dispatch(**kwargs: Any) -> int:
    return meter_dispatch(**kwargs)


@shared_task(name="billing.meter_sample_host")
def legacy_meter_sample_host(host_id: int, **kwargs: Any) -> dict[str, Any]:
    return meter_sample_host(host_id, **kwargs)


@shared_task(name="billing.meter_rollup")
def legacy_meter_rollup(**kwargs: Any) -> dict[str, int]:
    return meter_rollup(**kwargs)
