"""Thin Celery tasks of the billing app: the daily drafting of last month's invoices."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billing import invoicing


@shared_task(name="billing.invoices_draft_due")
def invoices_draft_due(**kwargs: Any) -> int:
    """Periodic (beat, daily): draft last month for tenants with usage; rerunning changes
    nothing unless the ledger did."""
    return len(invoicing.invoices_draft_due())
