"""Thin Celery tasks of the billing app."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billing import services


@shared_task(name="billing.budget_check")
def budget_check(**_kwargs: Any) -> int:
    """Periodic (beat): announce the budget thresholds newly crossed; idempotent."""
    return len(services.budget_check())
