"""Billable lines of whole tenants over one period, and their counts and totals (invoicing).

One engine for both: on PostgreSQL the SQL path over the ledger's intervals
(billing/rating/sql.py), the VMs with snapshot events replayed by the Python reference and merged
in their place; elsewhere (SQLite, or NUAGE["RATING_SQL"] = False) the Python reference alone.
A draft's header comes from `billable_summaries` and its lines from `billable_lines`, so issuing
finds them different only when the ledger changed.

Not scoped to a user: the invoicing services check their caller's permission themselves.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from billing.ledger import snapshot_vm_ids
from billing.models import UsageEvent, VolumeUsageEvent
from billing.rating.python import UsageLine, VMNames
from billing.rating.sql import lines_sql, summaries_sql
from billing.selectors import lines_by_vm, lines_by_volume, prices_for_period

ZERO = Decimal("0.00")


def sql_engine() -> bool:
    """Whether rating runs in SQL here: the one switch, read by headers and lines alike."""
    return connection.vendor == "postgresql" and bool(settings.NUAGE.get("RATING_SQL", True))


def _python(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime, vm_ids: list[int] | None = None
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    events = UsageEvent.objects.unscoped().filter(tenant_id__in=list(tenant_ids))
    if vm_ids is not None:
        events = events.filter(vm_id__in=vm_ids)
    prices = prices_for_period(start=start, end=end)
    for names, lines in lines_by_vm(events, start=start, end=end, prices=prices):
        billable = [line for line in lines if line.price_list_id is not None]
        if billable:
            yield names, billable


def billable_lines(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    """Per VM of these tenants, in (tenant, VM) order: its lines that a price list covers; then
    per data volume, in (tenant, volume) order."""
    yield from _vm_lines(tenant_ids, start=start, end=end)
    yield from _volumes(tenant_ids, start=start, end=end)


def _volumes(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    """The data volumes' billable lines (billing/rating/volumes.py), the same on every engine."""
    rows = VolumeUsageEvent.objects.unscoped().filter(tenant_id__in=list(tenant_ids))
    prices = prices_for_period(start=start, end=end)
    for names, lines in lines_by_volume(rows, start=start, end=end, prices=prices):
        billable = [line for line in lines if line.price_list_id is not None]
        if billable:
            yield names, billable


def _vm_lines(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    if not sql_engine():
        yield from _python(tenant_ids, start=start, end=end)
        return
    snapshots = snapshot_vm_ids(tenant_ids, end=end)
    summed = lines_sql(
        tenant_ids, prices_for_period(start=start, end=end), start=start, end=end,
        skip_vm_ids=snapshots,
    )  # fmt: skip
    if not snapshots:
        yield from summed
        return
    replayed = _python(tenant_ids, start=start, end=end, vm_ids=snapshots)
    yield from heapq.merge(
        summed, replayed, key=lambda item: (item[1][0].tenant_id, item[1][0].vm_id)
    )


def billable_summaries(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime
) -> dict[int, tuple[int, Decimal]]:
    """Tenant id -> (count, total) of `billable_lines`, for the tenants with any; on PostgreSQL
    without building a line (one query for every tenant)."""
    summed = _vm_summaries(tenant_ids, start=start, end=end)
    for _names, lines in _volumes(tenant_ids, start=start, end=end):
        tenant_id = lines[0].tenant_id
        count, amount = summed.get(tenant_id, (0, ZERO))
        summed[tenant_id] = (count + len(lines), amount + sum((ln.amount for ln in lines), ZERO))
    return summed


def _vm_summaries(
    tenant_ids: Sequence[int], *, start: datetime, end: datetime
) -> dict[int, tuple[int, Decimal]]:
    summed: dict[int, tuple[int, Decimal]] = {}
    python_ids: list[int] | None = None
    if sql_engine():
        python_ids = snapshot_vm_ids(tenant_ids, end=end)
        summed = summaries_sql(
            tenant_ids, prices_for_period(start=start, end=end), start=start, end=end,
            skip_vm_ids=python_ids,
        )  # fmt: skip
        if not python_ids:
            return summed
    for _names, lines in _python(tenant_ids, start=start, end=end, vm_ids=python_ids):
        tenant_id = lines[0].tenant_id
        count, amount = summed.get(tenant_id, (0, ZERO))
        summed[tenant_id] = (count + len(lines), amount + sum((ln.amount for ln in lines), ZERO))
    return summed
