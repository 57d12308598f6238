"""Rating in PostgreSQL: the one SQL path, over the ledger's intervals, for every billable line.

`billing.models.UsageInterval` is the ledger's projection (kept by a trigger on every insert,
billing/ledger.py): each stretch of a VM's life with its allocation and whether it exists and
runs. One query cuts those stretches at the price changes and sums them per VM, flavor, price
list and allocation. A VM with a single allocation under a flavor and price list (the usual
case) then has exactly one CPU, one RAM, one disk and possibly one flavor line there, valued
side by side on that row; the others are regrouped per (VM, resource, quantity, flavor, price
list), the very key `billing.rating.python.usage_lines` sums its slots by, with GROUPING SETS.
`summaries_sql` gives a line count and a total per tenant (a draft's header), `lines_sql` the
lines themselves (a draft shown, exported or issued): the same query, so a header and its lines
never disagree unless the ledger changed.

Money, exactly as `billing.rating.python._amount`: a line's amount in cents is
unit price × quantity × hours × 100 = unit_micros × numerator × microseconds /
(denominator × 3.6e13), where unit_micros is the price in millionths (prices have six decimals,
so it is an integer); the integer quotient is rounded half to even on its remainder (`_cents`:
bigint when the product fits, numeric beyond). The same cents as the Python reference, line by
line: tests/billing/test_rating_sql.py compares them on random ledgers, where resizes within one
flavor exercise the regrouping.

Only billable lines (a price list covers them) come out. VMs with snapshot events are left to
the caller (the Python replay keeps snapshots exact): see billing/rating/lines.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from django.db import connection

from billing.choices import Resource
from billing.models import UsageInterval
from billing.rating.python import Prices, UsageLine, VMNames, resolve_periods
from compute.models import VirtualMachine
from portal.models import Environment, Tenant

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RANK = {resource: i for i, resource in enumerate(Resource.values)}
# Which GROUPING SETS row is which resource: GROUPING(vcpus, ram_mib, disk_gib) is a bit mask
# of the columns left out of the set.
_CPU, _RAM, _DISK = 0b011, 0b101, 0b110  # and 0b111: the flavor alone


def _cents(unit: str, qn: str, qd: str, micros: str) -> str:
    """SQL for the cents of one line: unit_micros × qn/qd × micros / 3.6e9 / 10^6 × 100, the
    exact quotient rounded half to even. The quantity is reduced first, so the product fits in
    bigint for any realistic price and period (float8 only chooses the branch); past 4e18 it is
    computed in numeric. Both branches are exact integer arithmetic."""
    n = f"({qn} / gcd({qn}, {qd}))"
    d = f"({qd} / gcd({qn}, {qd}) * 36000000000000)"

    def half_even(q: str, rest: str) -> str:
        odd = f"{q} %% 2 = 1"
        return (
            f"({q} + CASE WHEN 2 * {rest} > {d} OR (2 * {rest} = {d} AND {odd}) THEN 1 ELSE 0 END)"
        )

    big = f"({unit} * {n} * {micros})"
    exact = f"({unit}::numeric * {n} * {micros})"
    return (
        f"CASE WHEN {unit}::float8 * {n} * {micros} < 4e18 "
        f"THEN {half_even(f'({big} / {d})', f'({big} %% {d})')} "
        f"ELSE {half_even(f'div({exact}, {d})', f'mod({exact}, {d})')}::bigint END"
    )


# Shared by both queries: the stretches of these tenants' VMs cut to the period and at the price
# changes, summed per VM, flavor, price list and allocation; then, for the VMs picked by
# {{which}}, the general line sums (GROUPING SETS over resources and quantities), valued.
_BASE_SQL = """
WITH period AS (
    SELECT * FROM UNNEST(%(price_ids)s::bigint[], %(froms)s::bigint[], %(tos)s::bigint[])
        AS p(price_id, pa, pb)
    WHERE price_id IS NOT NULL
),
piece AS (
    SELECT i.tenant_id, i.vm_id, i.vcpus, i.ram_mib, i.disk_gib, i.flavor_id,
           i.existing, i.running, p.price_id,
           GREATEST(i.start_us, p.pa) AS a, LEAST(COALESCE(i.end_us, p.pb), p.pb) AS b
    FROM {intervals} i
    JOIN period p ON p.pa < COALESCE(i.end_us, p.pb) AND p.pb > i.start_us
    WHERE i.tenant_id = ANY(%(tenants)s::bigint[]) AND i.start_us < %(end_us)s
      AND (i.end_us IS NULL OR i.end_us > %(start_us)s)
      -- A VM deleted before the period is left out, as every reader of the ledger does.
      AND (i.deleted_us IS NULL OR i.deleted_us >= %(start_us)s)
      AND NOT (i.vm_id = ANY(%(skip)s::bigint[]))
),
state AS (
    SELECT vm_id, flavor_id, price_id, vcpus, ram_mib, disk_gib,
           MIN(tenant_id) AS tenant_id,
           (SUM(b - a) FILTER (WHERE running))::bigint AS run_us,
           MIN(a) FILTER (WHERE running) AS run_first,
           MAX(b) FILTER (WHERE running) AS run_last,
           (SUM(b - a) FILTER (WHERE existing))::bigint AS exist_us,
           MIN(a) FILTER (WHERE existing) AS exist_first,
           MAX(b) FILTER (WHERE existing) AS exist_last,
           -- More than one allocation under one flavor and price list: lines must be regrouped.
           COUNT(*) OVER (PARTITION BY vm_id, flavor_id, price_id) AS allocations
    FROM piece
    GROUP BY vm_id, flavor_id, price_id, vcpus, ram_mib, disk_gib
),
unit AS (
    -- A list's price per unit-hour of each resource, in millionths; a flavor's per flavor (the
    -- others under flavor 0). A flavor the list does not price has no row, so no line.
    SELECT * FROM UNNEST(%(unit_lists)s::bigint[], %(unit_ranks)s::int[],
                         %(unit_flavors)s::bigint[], %(unit_micros)s::bigint[])
        AS u(price_id, rank, flavor_key, unit_micros)
),
grouped AS (
    SELECT vm_id, flavor_id, price_id, vcpus, ram_mib, disk_gib,
           MIN(tenant_id) AS tenant_id,
           GROUPING(vcpus, ram_mib, disk_gib) AS g,
           SUM(run_us)::bigint AS run_us, MIN(run_first) AS run_first,
           MAX(run_last) AS run_last, SUM(exist_us)::bigint AS exist_us,
           MIN(exist_first) AS exist_first, MAX(exist_last) AS exist_last
    FROM state
    WHERE {which}
    GROUP BY vm_id, flavor_id, price_id, GROUPING SETS ((vcpus), (ram_mib), (disk_gib), ())
),
charge AS (
    SELECT tenant_id, vm_id, flavor_id, price_id,
           CASE g WHEN {g_cpu} THEN {cpu} WHEN {g_ram} THEN {ram} WHEN {g_disk} THEN {disk}
                  ELSE {flavor} END AS rank,
           CASE g WHEN {g_cpu} THEN vcpus WHEN {g_ram} THEN ram_mib WHEN {g_disk} THEN disk_gib
                  ELSE 1 END AS qn,
           CASE g WHEN {g_ram} THEN 1024 ELSE 1 END AS qd,
           CASE g WHEN {g_disk} THEN exist_us ELSE run_us END AS micros,
           CASE g WHEN {g_disk} THEN exist_first ELSE run_first END AS first,
           CASE g WHEN {g_disk} THEN exist_last ELSE run_last END AS last
    FROM grouped
    WHERE CASE g WHEN {g_disk} THEN exist_us ELSE run_us END IS NOT NULL
),
line AS (
    SELECT c.*, u.unit_micros, {cents_line} AS cents
    FROM charge c
    JOIN unit u ON u.price_id = c.price_id AND u.rank = c.rank
        AND u.flavor_key = CASE WHEN c.rank = {flavor} THEN c.flavor_id ELSE 0 END
)"""

# Per tenant, a count and a total. A VM with one allocation per flavor and price list (the
# usual case) needs no regrouping: each state row is its CPU, RAM, flavor and disk lines,
# valued side by side; the others go through the general `line` sums.
_SUMMARY_SQL = (
    _BASE_SQL  # noqa: S608 - constants, formatted with table names and numbers only
    + """,
simple AS (
    SELECT s.tenant_id,
           CASE WHEN s.run_us IS NULL THEN 0 ELSE 2 END
           + CASE WHEN s.run_us IS NOT NULL AND f.unit_micros IS NOT NULL THEN 1 ELSE 0 END
           + CASE WHEN s.exist_us IS NULL THEN 0 ELSE 1 END AS lines,
           COALESCE({cents_cpu}, 0) + COALESCE({cents_ram}, 0)
           + COALESCE({cents_flavor}, 0) + COALESCE({cents_disk}, 0) AS cents
    FROM state s
    JOIN unit cpu ON cpu.price_id = s.price_id AND cpu.rank = {cpu}
    JOIN unit ram ON ram.price_id = s.price_id AND ram.rank = {ram}
    JOIN unit disk ON disk.price_id = s.price_id AND disk.rank = {disk}
    LEFT JOIN unit f ON f.price_id = s.price_id AND f.rank = {flavor}
        AND f.flavor_key = s.flavor_id
    WHERE s.allocations = 1
)
SELECT tenant_id, SUM(lines)::bigint, SUM(cents)::bigint
FROM (
    SELECT tenant_id, lines, cents FROM simple
    UNION ALL
    SELECT tenant_id, 1, cents FROM line
) AS every_line
GROUP BY tenant_id
"""
)

# The general path for every VM, one row per line, in invoice order.
_ROWS_SQL = (
    _BASE_SQL
    + """
SELECT tenant_id, vm_id, rank, qn, qd, CASE WHEN rank = {flavor} THEN flavor_id END, price_id,
       unit_micros, micros, first, last, cents
FROM line
ORDER BY tenant_id, vm_id, rank, first
"""
)


def _sql(template: str, *, which: str) -> str:
    return template.format(
        which=which,
        intervals=connection.ops.quote_name(UsageInterval._meta.db_table),
        g_cpu=_CPU,
        g_ram=_RAM,
        g_disk=_DISK,
        cpu=_RANK[Resource.CPU],
        ram=_RANK[Resource.RAM],
        disk=_RANK[Resource.DISK],
        flavor=_RANK[Resource.FLAVOR],
        cents_line=_cents("u.unit_micros", "c.qn", "c.qd", "c.micros"),
        cents_cpu=_cents("cpu.unit_micros", "s.vcpus", "1", "s.run_us"),
        cents_ram=_cents("ram.unit_micros", "s.ram_mib", "1024", "s.run_us"),
        cents_flavor=_cents("f.unit_micros", "1", "1", "s.run_us"),
        cents_disk=_cents("disk.unit_micros", "s.disk_gib", "1", "s.exist_us"),
    )


def _micros_of_price(price: Decimal) -> int:
    micros = price * 1_000_000
    if micros != micros.to_integral_value():
        raise ValueError(f"A price has at most six decimals: {price}.")
    return int(micros)


def _unit_params(periods: Sequence[Prices]) -> dict[str, list[int]]:
    rows: list[tuple[int, int, int, int]] = []
    for p in periods:
        if p.id is None:
            continue
        rows += [
            (p.id, _RANK[Resource.CPU], 0, _micros_of_price(p.vcpu_hour)),
            (p.id, _RANK[Resource.RAM], 0, _micros_of_price(p.ram_gib_hour)),
            (p.id, _RANK[Resource.DISK], 0, _micros_of_price(p.disk_gib_hour)),
        ]
        rows += [
            (p.id, _RANK[Resource.FLAVOR], flavor_id, _micros_of_price(price))
            for flavor_id, price in sorted(p.flavor_hour.items())
        ]
    return {
        "unit_lists": [r[0] for r in rows],
        "unit_ranks": [r[1] for r in rows],
        "unit_flavors": [r[2] for r in rows],
        "unit_micros": [r[3] for r in rows],
    }


def _micros(instant: datetime) -> int:
    """Microseconds since the epoch, exactly (the unit of the intervals' instants)."""
    return (instant - _EPOCH) // timedelta(microseconds=1)


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


def _query_params(
    tenant_ids: Sequence[int],
    periods: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int],
) -> dict[str, Any]:
    """The query's parameters for resolved `periods` (`resolve_periods`)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("Rating in SQL needs PostgreSQL.")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("The period's bounds must be timezone-aware.")
    if end <= start:
        raise ValueError("The period must end after it starts.")
    segments = _segments(periods, start, end)
    return {
        "tenants": list(tenant_ids),
        "skip": list(skip_vm_ids),
        "start_us": _micros(start),
        "end_us": _micros(end),
        "price_ids": [s[0] for s in segments],
        "froms": [_micros(s[1]) for s in segments],
        "tos": [_micros(s[2]) for s in segments],
        **_unit_params(periods),
    }


def summaries_sql(
    tenant_ids: Sequence[int],
    price_lists: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int] = (),
) -> dict[int, tuple[int, Decimal]]:
    """Tenant id -> (number of billable lines, their total) over [start, end), for the tenants
    with at least one line; VMs in `skip_vm_ids` left out. The count and sum of `lines_sql`."""
    periods = resolve_periods(price_lists)
    params = _query_params(tenant_ids, periods, start=start, end=end, skip_vm_ids=skip_vm_ids)
    with connection.cursor() as cursor:
        cursor.execute(_sql(_SUMMARY_SQL, which="allocations > 1"), params)
        return {
            tenant_id: (count, Decimal(cents).scaleb(-2))
            for tenant_id, count, cents in cursor.fetchall()
        }


# tenant, VM, resource rank, quantity numerator and denominator, flavor (flavor lines only),
# price list, unit price in millionths, microseconds, first and last instants, cents.
LineRow = tuple[int, int, int, int, int, int | None, int, int, int, int, int, int]


def _line_rows(
    tenant_ids: Sequence[int],
    periods: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int],
) -> list[LineRow]:
    params = _query_params(tenant_ids, periods, start=start, end=end, skip_vm_ids=skip_vm_ids)
    with connection.cursor() as cursor:
        cursor.execute(_sql(_ROWS_SQL, which="TRUE"), params)
        return [tuple(int(v) if v is not None else None for v in row) for row in cursor.fetchall()]  # type: ignore[misc]


def line_rows_sql(
    tenant_ids: Sequence[int],
    price_lists: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int] = (),
) -> list[LineRow]:
    """The lines `summaries_sql` counts and sums, one row each, in invoice order."""
    periods = resolve_periods(price_lists)
    return _line_rows(tenant_ids, periods, start=start, end=end, skip_vm_ids=skip_vm_ids)


# The VM's name and those of the environment and tenant of its first event (every interval of a
# VM carries that environment and tenant).
_NAMES_SQL = """
SELECT DISTINCT ON (i.vm_id) i.vm_id, i.environment_id, vm.name, env.name, tenant.slug
FROM {intervals} i
JOIN {vms} vm ON vm.id = i.vm_id
JOIN {environments} env ON env.id = i.environment_id
JOIN {tenants} tenant ON tenant.id = i.tenant_id
WHERE i.vm_id = ANY(%(vms)s::bigint[])
ORDER BY i.vm_id
"""


def _names(vm_ids: list[int]) -> dict[int, tuple[int, VMNames]]:
    quote = connection.ops.quote_name
    sql = _NAMES_SQL.format(
        intervals=quote(UsageInterval._meta.db_table),
        vms=quote(VirtualMachine._meta.db_table),
        environments=quote(Environment._meta.db_table),
        tenants=quote(Tenant._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"vms": vm_ids})
        return {
            vm_id: (environment_id, VMNames(vm, environment, tenant))
            for vm_id, environment_id, vm, environment, tenant in cursor.fetchall()
        }


class _Instants(dict[int, datetime]):
    """Microseconds since the epoch as datetimes, each made once (lines share most bounds:
    the period's, the price change's, a VM's creation)."""

    def __missing__(self, micros: int) -> datetime:
        value = self[micros] = _EPOCH + timedelta(microseconds=micros)
        return value


def lines_sql(
    tenant_ids: Sequence[int],
    price_lists: Sequence[Prices],
    *,
    start: datetime,
    end: datetime,
    skip_vm_ids: Sequence[int] = (),
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    """Per VM of these tenants (but `skip_vm_ids`), in (tenant, VM) order: its billable lines
    over [start, end), exactly the Python replay's lines that a price list covers, with the
    names a report shows. VMs without any billable line are left out."""
    periods = resolve_periods(price_lists)
    prices_by_id = {p.id: p for p in periods}
    rows = _line_rows(tenant_ids, periods, start=start, end=end, skip_vm_ids=skip_vm_ids)
    names = _names(sorted({row[1] for row in rows}))
    resources = list(Resource)  # the members, as the Python replay gives them
    quantities: dict[tuple[int, int], Decimal] = {}
    instants = _Instants()
    for vm_id, vm_rows in groupby(rows, key=lambda row: row[1]):
        environment_id, vm_names = names[vm_id]
        lines = []
        for row in vm_rows:
            tenant_id, _vm, rank, qn, qd, flavor_id, price_id, _unit, micros, a, b, cents = row
            resource = resources[rank]
            quantity = quantities.get((qn, qd))
            if quantity is None:
                quantity = quantities[qn, qd] = Decimal(qn) / Decimal(qd)
            lines.append(
                UsageLine(
                    vm_id=vm_id,
                    tenant_id=tenant_id,
                    environment_id=environment_id,
                    resource=resource,
                    quantity=quantity,
                    flavor_id=flavor_id,
                    price_list_id=price_id,
                    # The list's own Decimal, as the Python replay gives it.
                    unit_price=prices_by_id[price_id].unit_price(resource, flavor_id),
                    seconds=Decimal(micros) / 1_000_000,
                    start=instants[a],
                    end=instants[b],
                    amount=Decimal(cents).scaleb(-2),
                )
            )
        yield vm_names, lines
