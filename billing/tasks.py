"""Celery tasks of billing: budgets, metering (sampling cycles, rollups) and the daily drafting
of last month's invoices; thin, they call services.py, sampling.py and invoicing/."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from billing import invoicing, sampling, services


@shared_task(name="billing.budget_check")
def budget_check(**_kwargs: Any) -> int:
    """Periodic (beat): announce the budget thresholds newly crossed; idempotent."""
    return len(services.budget_check())


@shared_task(name="billing.meter_dispatch")
def meter_dispatch(**_kwargs: Any) -> int:
    """One sampling task per enabled host that answers, so that a slow host delays no other."""
    hosts = sampling.hosts_to_sample()
    interval = float(settings.NUAGE.get("METER_INTERVAL_SECONDS", 60.0))
    for host_id in hosts:
        # A cycle still queued when the next one is due is stale: the next one replaces it.
        meter_sample_host.apply_async((host_id,), expires=interval)
    return len(hosts)


@shared_task(name="billing.meter_sample_host")
def meter_sample_host(host_id: int, **_kwargs: Any) -> dict[str, Any]:
    result = sampling.sample_host(host_id=host_id)
    return {"host": host_id, "domains": result.domains, "stored": result.stored}


@shared_task(name="billing.meter_rollup")
def meter_rollup(**_kwargs: Any) -> dict[str, int]:
    result = sampling.rollup()
    return {"hourly": result.hourly, "daily": result.daily, "pruned": result.pruned}


@shared_task(name="billing.invoices_draft_due")
def invoices_draft_due(**_kwargs: Any) -> int:
    """Periodic (beat, daily): draft last month for tenants with usage; rerunning changes
    nothing unless the ledger did."""
    return len(invoicing.invoices_draft_due())
