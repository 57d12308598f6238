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
from portal import routing


@shared_task(name="metering.dispatch")
def meter_dispatch(**_kwargs: Any) -> int:
    """Sampling tasks for every enabled host that answers, NUAGE["METER_HOSTS_PER_TASK"] hosts
    each: a slow host delays only the others of its task, and at thousands of hosts the
    database is written once per task rather than once per host. Returns the number of hosts."""
    hosts = sampling.hosts_to_sample()
    interval = float(settings.NUAGE.get("METER_INTERVAL_SECONDS", 60.0))
    size = max(1, int(settings.NUAGE.get("METER_HOSTS_PER_TASK", 20)))
    # With sharding on (NUAGE["METER_SHARDS"]), a task holds hosts of one shard only and goes to
    # that shard's queue (portal/routing.py).
    shards: dict[str | None, list[int]] = {}
    for host_id in hosts:
        shards.setdefault(routing.metering_queue_for_host(host_id), []).append(host_id)
    for queue, members in shards.items():
        for start in range(0, len(members), size):
            # A cycle still queued when the next one is due is stale: the next one replaces it.
            options: dict[str, Any] = {"expires": interval}
            if queue:
                options["queue"] = queue
            meter_sample_hosts.apply_async((members[start : start + size],), **options)
    return len(hosts)


@shared_task(name="metering.sample_hosts")
def meter_sample_hosts(host_ids: list[int], **_kwargs: Any) -> list[dict[str, Any]]:
    return [
        {"host": r.host_id, "domains": r.domains, "stored": r.stored}
        for r in sampling.sample_hosts(host_ids=host_ids)
    ]


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
