"""Celery tasks of billing: budgets and the daily drafting of last month's invoices; thin, they
call services.py and invoicing/. (The metering tasks live in metering/tasks.py.)"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billing import invoicing, services


@shared_task(name="billing.budget_check")
def budget_check(**_kwargs: Any) -> int:
    """Periodic (beat): announce the budget thresholds newly crossed; idempotent."""
    return len(services.budget_check())


@shared_task(name="billing.invoices_draft_due")
def invoices_draft_due(**_kwargs: Any) -> int:
    """Periodic (beat, daily): draft last month for tenants with usage; rerunning changes
    nothing unless the ledger did."""
    return len(invoicing.invoices_draft_due())
