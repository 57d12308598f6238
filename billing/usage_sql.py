"""Usage lines summed by PostgreSQL: the same lines as `billing.usage.usage_lines`, faster.

`usage_lines` replays each VM's events in Python; here one query does the replay with window
functions and sums the microseconds a VM spent in each state under each price list, and Python
only spreads those few sums over the resources and values them (with the very code
`usage_lines` uses, `_lines_of`, so rounding and ordering are shared).

The replay, per VM, events ordered by (at, id):
- after each event, the VM exists once created or started and until deleted (a resize leaves
  it), and runs once started and until stopped or deleted; its allocation (vCPUs, RAM, disk,
  flavor) is that of the last created, started or resized event. Each is "the last event of
  some kinds before this row", a running max over the row number (encoded with the state).
- each event opens a stretch up to the next event (the last one up to `end`), clipped to
  [start, end) and cut where the price list changes (the resolved periods, passed as arrays:
  a stretch no list covers gets no price list, as in `_split_by_prices`).
- the query sums the stretches per (VM, allocation, exists, running, price list); Python
  charges CPU, RAM and the flavor (where the list prices it) while running, disk while the VM
  exists, and adds them up per (VM, resource, quantity, flavor, price list) exactly as
  `usage_lines` keys its slots.

VMs with snapshot events are left to the caller (the Python replay keeps snapshots exact).
Instants are integer microseconds since the epoch in the query (EXTRACT(EPOCH ...) is an exact
numeric from PostgreSQL 14), so every sum is exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import groupby
from operator import attrgetter
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from billing.choices import Resource, UsageKind
from billing.models import UsageEvent
from billing.usage import Prices, UsageLine, _lines_of, _Slot, _SlotKey, resolve_periods
from compute.models import VirtualMachine
from portal.models import Environment, Tenant

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SNAPSHOT_VMS_SQL = """
SELECT DISTINCT e.vm_id
FROM {events} e
WHERE e.tenant_id = ANY(%(tenants)s::bigint[]) AND e.at < %(end)s
  AND e.kind IN ('{snapshot_created}', '{snapshot_deleted}')
"""

_LINES_SQL = """
WITH event AS (
    SELECT e.id, e.vm_id, e.tenant_id, e.environment_id, e.kind, e.at,
           e.vcpus, e.ram_mib, e.disk_gib, e.flavor_id,
           (EXTRACT(EPOCH FROM e.at) * 1000000)::bigint AS us
    FROM {events} e
    WHERE e.tenant_id = ANY(%(tenants)s::bigint[]) AND e.at < %(end)s
      AND NOT (e.vm_id = ANY(%(skip)s::bigint[]))
      AND NOT EXISTS (
          SELECT 1 FROM {events} d
          WHERE d.vm_id = e.vm_id AND d.kind = '{deleted}' AND d.at < %(start)s
      )
),
numbered AS (
    SELECT event.*,
           ROW_NUMBER() OVER w AS rn,
           LEAD(us) OVER w AS next_us,
           FIRST_VALUE(tenant_id) OVER w AS first_tenant_id,
           FIRST_VALUE(environment_id) OVER w AS first_environment_id
    FROM event
    WINDOW w AS (
        PARTITION BY vm_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),
ev AS (
    -- The state after each event, as "the last event of some kinds so far": a running max of
    -- (row number << 32 | value); every value is a PositiveIntegerField, below 2^31.
    SELECT vm_id, us, next_us,
           first_tenant_id AS tenant_id, first_environment_id AS environment_id,
           MAX(CASE WHEN kind IN {allocating} THEN (rn << 32) | vcpus END) OVER w AS vcpus,
           MAX(CASE WHEN kind IN {allocating} THEN (rn << 32) | ram_mib END) OVER w AS ram_mib,
           MAX(CASE WHEN kind IN {allocating} THEN (rn << 32) | disk_gib END) OVER w AS disk_gib,
           MAX(CASE WHEN kind IN {allocating} THEN (rn << 32) | flavor_id END)
               OVER w AS flavor_id,
           MAX(CASE WHEN kind IN ('{created}', '{started}') THEN rn * 2 + 1
                    WHEN kind = '{deleted}' THEN rn * 2 END) OVER w AS existing,
           MAX(CASE WHEN kind = '{started}' THEN rn * 2 + 1
                    WHEN kind IN ('{stopped}', '{deleted}') THEN rn * 2 END) OVER w AS running
    FROM numbered
    WINDOW w AS (
        PARTITION BY vm_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),
stretch AS (
    SELECT vm_id, tenant_id, environment_id,
           GREATEST(us, %(start_us)s) AS a,
           LEAST(COALESCE(next_us, %(end_us)s), %(end_us)s) AS b,
           vcpus & 4294967295 AS vcpus, ram_mib & 4294967295 AS ram_mib,
           disk_gib & 4294967295 AS disk_gib, flavor_id & 4294967295 AS flavor_id,
           COALESCE(existing %% 2 = 1, FALSE) AS is_existing,
           COALESCE(running %% 2 = 1, FALSE) AS is_running
    FROM ev
    WHERE COALESCE(next_us, %(end_us)s) > %(start_us)s
),
period AS (
    SELECT * FROM UNNEST(%(price_ids)s::bigint[], %(froms)s::bigint[], %(tos)s::bigint[])
        AS p(price_id, pa, pb)
),
state AS (
    -- The stretches of one VM in one state under one price list, summed.
    SELECT s.vm_id, s.tenant_id, s.environment_id, s.vcpus, s.ram_mib, s.disk_gib,
           s.flavor_id, s.is_existing, s.is_running, p.price_id,
           SUM(LEAST(s.b, p.pb) - GREATEST(s.a, p.pa)) AS micros,
           MIN(GREATEST(s.a, p.pa)) AS first, MAX(LEAST(s.b, p.pb)) AS last
    FROM stretch s JOIN period p ON p.pa < s.b AND p.pb > s.a
    WHERE s.a < s.b AND (s.is_existing OR s.is_running)
    GROUP BY s.vm_id, s.tenant_id, s.environment_id, s.vcpus, s.ram_mib, s.disk_gib,
             s.flavor_id, s.is_existing, s.is_running, p.price_id
)
SELECT tenant_id, vm_id, environment_id, vcpus, ram_mib, disk_gib, flavor_id, is_existing,
       is_running, price_id, micros::bigint, first, last
FROM state
ORDER BY tenant_id, vm_id
"""


def _sql(template: str) -> str:
    return template.format(
        events=connection.ops.quote_name(UsageEvent._meta.db_table),
        vms=connection.ops.quote_name(VirtualMachine._meta.db_table),
        environments=connection.ops.quote_name(Environment._meta.db_table),
        tenants=connection.ops.quote_name(Tenant._meta.db_table),
        created=UsageKind.CREATED.value,
        started=UsageKind.STARTED.value,
        stopped=UsageKind.STOPPED.value,
        resized=UsageKind.RESIZED.value,
        deleted=UsageKind.DELETED.value,
        snapshot_created=UsageKind.SNAPSHOT_CREATED.value,
        snapshot_deleted=UsageKind.SNAPSHOT_DELETED.value,
        allocating=f"('{UsageKind.CREATED}', '{UsageKind.STARTED}', '{UsageKind.RESIZED}')",
    )


def _segments(
    periods: Sequence[Prices], start: datetime, end: datetime
) -> list[tuple[int | None, datetime, datetime]]:
    """[start, end) cut into the resolved price periods, gaps belonging to no list (None).

    Resolved periods do not overlap, so the list covering an instant is the one containing it:
    what `_split_by_prices` finds. Cuts inside one list's time change no line (the same slot
    sums both halves), so one segment per list is enough.
    """
    segments: list[tuple[int | None, datetime, datetime]] = []
    at = start
    for p in periods:
        a = max(p.effective_from, start)
        b = end if p.effective_to is None else min(p.effective_to, end)
        if a >= b:
            continue
        if at < a:
            segments.append((None, at, a))
        segments.append((p.id, a, b))
        at = max(at, b)
    if at < end:
        segments.append((None, at, end))
    return segments


@dataclass(frozen=True)
class VMUsage:
    """One VM's lines, with what a report shows of it beside its ids."""

    tenant_id: int
    vm_id: int
    vm_name: str
    environment_name: str
    tenant_slug: str
    lines: list[UsageLine]


def snapshot_vm_ids(tenant_ids: Sequence[int], *, end: datetime) -> list[int]:
    """VMs of these tenants with a snapshot event before `end`: left to the Python replay."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_SNAPSHOT_VMS_SQL), {"tenants": list(tenant_ids), "end": end})
        return [row[0] for row in cursor.fetchall()]


def usage_lines_sql(
    tenant_ids: Sequence[int],
    price_lists: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int] = (),
) -> Iterator[VMUsage]:
    """Per VM of these tenants (but `skip_vm_ids`), in (tenant, VM) order: its lines over
    [start, end), exactly `usage_lines` of its ledger. VMs deleted before `start` and VMs
    without any line are left out, as `_lines_by_vm` leaves them out."""
    if connection.vendor != "postgresql":
        raise RuntimeError("usage_lines_sql needs PostgreSQL.")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("The period's bounds must be timezone-aware.")
    if end <= start:
        raise ValueError("The period must end after it starts.")
    periods = resolve_periods(price_lists)
    prices_by_id: dict[int | None, Prices | None] = {p.id: p for p in periods}
    prices_by_id[None] = None
    params = _params(tenant_ids, periods, start=start, end=end, skip_vm_ids=skip_vm_ids)
    instants = _Instants()
    with connection.cursor() as cursor:
        cursor.execute(_sql(_LINES_SQL), params)
        # Valued a few thousand rows at a time (whole VMs): one `_lines_of` call per batch.
        batch: list[_Row] = []
        for row in _fetched(cursor):
            if len(batch) >= 5000 and row[1] != batch[-1][1]:
                yield from _valued(batch, prices_by_id, instants)
                batch = []
            batch.append(row)
        if batch:
            yield from _valued(batch, prices_by_id, instants)


def _fetched(cursor: CursorWrapper) -> Iterator[_Row]:
    while rows := cursor.fetchmany(5000):
        yield from rows


def _micros(instant: datetime) -> int:
    """Microseconds since the epoch, exactly (what the query computes of each event's `at`)."""
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _params(
    tenant_ids: Sequence[int],
    periods: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int],
) -> dict[str, Any]:
    segments = _segments(periods, start, end)
    return {
        "tenants": list(tenant_ids),
        "skip": list(skip_vm_ids),
        "start": start,
        "end": end,
        "start_us": _micros(start),
        "end_us": _micros(end),
        "price_ids": [s[0] for s in segments],
        "froms": [_micros(s[1]) for s in segments],
        "tos": [_micros(s[2]) for s in segments],
    }


# A row of _LINES_SQL: tenant, VM, environment, vCPUs, RAM MiB, disk GiB, flavor, exists,
# running, price list, microseconds, first and last instants (microseconds since the epoch).
_Row = tuple[int, int, int, int, int, int, int, bool, bool, int | None, int, int, int]
_NAMES_SQL = """
SELECT vm.id, vm.name, env.name, tenant.slug
FROM UNNEST(%(vms)s::bigint[], %(environments)s::bigint[], %(tenants)s::bigint[])
    AS v(vm_id, environment_id, tenant_id)
JOIN {vms} vm ON vm.id = v.vm_id
JOIN {environments} env ON env.id = v.environment_id
JOIN {tenants} tenant ON tenant.id = v.tenant_id
"""


class _Instants(dict[int, datetime]):
    """Microseconds since the epoch as datetimes, each made once (lines share most bounds:
    the period's, the price change's, a VM's creation)."""

    def __missing__(self, micros: int) -> datetime:
        value = self[micros] = _EPOCH + timedelta(microseconds=micros)
        return value


def _valued(
    rows: list[_Row], prices_by_id: dict[int | None, Prices | None], instants: _Instants
) -> Iterator[VMUsage]:
    """Whole VMs' rows valued by `_lines_of`, as `usage_lines` values its slots."""
    # Summed under plain keys first (hashing a Fraction is slow), then keyed as _lines_of wants.
    sums: dict[tuple[int, str, int, int, int, int | None], _Slot] = {}
    meta: dict[int, tuple[int, int]] = {}
    fractions: dict[tuple[int, int], Fraction] = {}
    priced: dict[tuple[int | None, int], bool] = {}
    for row in rows:
        tenant_id, vm_id, environment_id, vcpus, ram_mib, disk_gib, flavor_id = row[:7]
        existing, running, price_id, micros, first, last = row[7:]
        meta[vm_id] = (tenant_id, environment_id)
        a, b = instants[first], instants[last]
        charged: list[tuple[str, int, int]] = []
        if running:
            charged += [(Resource.CPU, vcpus, 1), (Resource.RAM, ram_mib, 1024)]
            flavor_priced = priced.get((price_id, flavor_id))
            if flavor_priced is None:
                prices = prices_by_id[price_id]
                flavor_priced = priced[price_id, flavor_id] = (
                    prices is not None and prices.unit_price(Resource.FLAVOR, flavor_id) is not None
                )
            if flavor_priced:  # a flat flavor price is optional
                charged.append((Resource.FLAVOR, 1, 1))
        if existing:
            charged.append((Resource.DISK, disk_gib, 1))
        for resource, numerator, denominator in charged:
            key = (vm_id, resource, numerator, denominator, flavor_id, price_id)
            slot = sums.get(key)
            if slot is None:
                sums[key] = _Slot(micros, a, b)
            else:
                slot.micros += micros
                slot.first, slot.last = min(slot.first, a), max(slot.last, b)
    totals: dict[_SlotKey, _Slot] = {}
    for (vm_id, resource, numerator, denominator, flavor_id, price_id), slot in sums.items():
        q = fractions.get((numerator, denominator))
        if q is None:
            q = fractions[numerator, denominator] = Fraction(numerator, denominator)
        totals[(vm_id, resource, q, flavor_id, price_id)] = slot
    names = _names(meta)
    for vm_id, lines in groupby(_lines_of(totals, meta, prices_by_id), key=attrgetter("vm_id")):
        yield VMUsage(meta[vm_id][0], vm_id, *names[vm_id], lines=list(lines))


def _names(meta: dict[int, tuple[int, int]]) -> dict[int, tuple[str, str, str]]:
    """The VM's name, and those of the environment and tenant of its first event."""
    params = {
        "vms": list(meta),
        "environments": [environment_id for _tenant_id, environment_id in meta.values()],
        "tenants": [tenant_id for tenant_id, _environment_id in meta.values()],
    }
    with connection.cursor() as cursor:
        cursor.execute(_sql(_NAMES_SQL), params)
        return {vm_id: (vm, environment, tenant) for vm_id, vm, environment, tenant in cursor}
