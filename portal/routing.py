"""Which Celery queue each task goes to, so that one kind of work never starves another.

Three queues besides the default one: `provisioning` (the operation steps a user waits for,
and the libvirt networks they need), `metering` (the sampling tasks, a group of hosts each,
and the rollups; optionally split by host over `<metering>.<host id mod N>` queues, see
`metering_queue_for_host`) and `notifications` (event delivery: webhooks and e-mail). A slow
webhook receiver or a host that answers slowly then holds only workers of its own queue. The
names come from `settings.NUAGE["QUEUES"]`; an empty name sends that kind to the default queue
(`CELERY_QUEUE`), as the test suite does. Everything else (reconciler, heartbeat, DRS, quota and
budget checks, invoices) stays on the default queue.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Task name -> kind of work. Old names still queued during an upgrade go with their new ones.
KIND_OF_TASK: dict[str, str] = {
    "compute.operation_advance": "provisioning",
    "compute.network_ensure": "provisioning",
    "compute.network_remove": "provisioning",
    "metering.dispatch": "metering",
    "metering.sample_host": "metering",
    "metering.sample_hosts": "metering",
    "metering.rollup": "metering",
    "billing.meter_dispatch": "metering",
    "billing.meter_sample_host": "metering",
    "billing.meter_rollup": "metering",
    "portal.event_deliver": "notifications",
    "portal.webhook_deliver": "notifications",
    "portal.webhook_redeliver": "notifications",
    "portal.notify_event": "notifications",
    "portal.notify_tenant_event": "notifications",
}
KINDS = ("provisioning", "metering", "notifications")


def queue_for(kind: str) -> str:
    """The queue of a kind of work ("" = the default queue)."""
    return str(settings.NUAGE.get("QUEUES", {}).get(kind) or "")


def metering_shards() -> int:
    """NUAGE["METER_SHARDS"]: 0 (off) or the number of queues the hosts' sampling is split over."""
    return max(0, int(settings.NUAGE.get("METER_SHARDS", 0)))


def metering_queue_for_host(host_id: int) -> str | None:
    """The queue of a host's sampling when sharding is on: `<metering queue>.<host id mod N>`,
    so that a host is always sampled by the same worker, which keeps its libvirt connection
    open (one per host it serves, not one per host of the pool). None when off."""
    shards = metering_shards()
    if not shards:
        return None
    base = queue_for("metering") or settings.CELERY_TASK_DEFAULT_QUEUE
    return f"{base}.{host_id % shards}"


def all_queues() -> list[str]:
    """The default queue and each kind's, without repeats: what one worker consumes to do all."""
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for kind in KINDS:
        queue = queue_for(kind)
        if queue and queue not in queues:
            queues.append(queue)
    for shard in range(metering_shards()):
        shard_queue = metering_queue_for_host(shard)
        if shard_queue and shard_queue not in queues:
            queues.append(shard_queue)
    return queues


def route_task(
    name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_kw: Any
) -> dict[str, str] | None:
    """Celery's router (CELERY_TASK_ROUTES): a kind's queue, or None for the default one. A
    queue given at the call (`apply_async(queue=…)`) wins."""
    if options.get("queue"):
        return None
    kind = KIND_OF_TASK.get(name)
    queue = queue_for(kind) if kind else ""
    return {"queue": queue} if queue else None


if __name__ == "__main__":  # scripts/demo.sh: `python -m portal.routing` -> "nuage,provisioning,…"
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    print(",".join(all_queues()))
