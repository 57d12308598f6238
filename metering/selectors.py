"""Reads of measured use (samples and rollups): per host and per VM loads for placement and DRS
(through `compute.loads`), and a VM's recent use beside its allocation, scoped to the
requesting user."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Avg,
    Count,
    F,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from compute.loads import HostLoad, VmLoad
from compute.models import Flavor, VirtualMachine
from compute.selectors import flavor_list, vm_list
from metering.models import MeterDaily, MeterHourly, MeterSample
from portal.jsonrows import as_datetime
from portal.models import User

# The same figures from raw samples and from rollups (an hour's or a day's mean weighs as many
# samples as it had), so that a window can add up rollups and the samples not yet rolled up.
SAMPLE_AGGREGATES: dict[str, Any] = {
    "cpu_sum": Sum("cpu_used_vcpus"),
    "cpu_n": Count("cpu_used_vcpus"),
    "cpu_max": Max("cpu_used_vcpus"),
    "mem_sum": Sum("memory_used_mib"),
    "n": Count("id"),
    "rd": Sum("disk_read_delta"),
    "wr": Sum("disk_write_delta"),
    "rx": Sum("net_rx_delta"),
    "tx": Sum("net_tx_delta"),
}
ROLLUP_AGGREGATES: dict[str, Any] = {
    "cpu_sum": Sum(F("cpu_avg_vcpus") * F("samples")),
    "cpu_n": Sum("samples", filter=Q(cpu_avg_vcpus__isnull=False)),
    "cpu_max": Max("cpu_max_vcpus"),
    "mem_sum": Sum(F("memory_avg_mib") * F("samples")),
    "n": Sum("samples"),
    "rd": Sum("disk_read_bytes"),
    "wr": Sum("disk_write_bytes"),
    "rx": Sum("net_rx_bytes"),
    "tx": Sum("net_tx_bytes"),
}


def host_loads(since: datetime) -> dict[int, HostLoad]:
    """Each sampled host's load since `since` (within the raw sample retention).

    A host's figure for one collection cycle is the sum over its VMs (one cycle stamps all of
    them with the same instant); the load is the mean of those sums, so a VM that moved counts
    on each host only for the cycles it ran there.
    """
    table = MeterSample._meta.db_table
    sql = f"""
        SELECT host_id, AVG(cpu), AVG(mem), SUM(n)
        FROM (
            SELECT host_id, at, SUM(cpu_used_vcpus) AS cpu, SUM(memory_used_mib) AS mem,
                   COUNT(*) AS n
            FROM {table}
            WHERE at >= %s
            GROUP BY host_id, at
        ) AS cycles
        GROUP BY host_id
    """  # noqa: S608 - the table name is the model's, the value a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(since)])
        rows = cursor.fetchall()
    return {
        int(host_id): HostLoad(
            cpu_used_vcpus=float(cpu or 0.0), mem_used_mib=round(float(mem or 0)), samples=int(n)
        )
        for host_id, cpu, mem, n in rows
    }


def vm_loads(since: datetime) -> dict[int, VmLoad]:
    """Each sampled VM's mean use since `since` (within the raw sample retention)."""
    rows = (
        MeterSample.objects.filter(at__gte=since)
        .order_by()
        .values("vm_id")
        .annotate(cpu=Avg("cpu_used_vcpus"), mem=Avg("memory_used_mib"), n=Count("id"))
    )
    return {
        row["vm_id"]: VmLoad(
            cpu_used_vcpus=float(row["cpu"] or 0.0), mem_used_mib=round(float(row["mem"] or 0))
        )
        for row in rows
    }


# --- one VM's measured use, for its owner ------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """Measured use over a window: CPU in vCPU-equivalents, memory the guest used, bytes."""

    cpu_avg_vcpus: float | None
    cpu_max_vcpus: float | None
    memory_avg_mib: int | None
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    samples: int


class _Sum:
    def __init__(self) -> None:
        self.cpu_sum = 0.0
        self.cpu_n = 0
        self.cpu_max: float | None = None
        self.mem_sum = 0.0
        self.n = 0
        self.bytes = [0, 0, 0, 0]

    def add(self, row: dict[str, Any]) -> None:
        if not row.get("n"):
            return
        self.cpu_sum += float(row["cpu_sum"] or 0.0)
        self.cpu_n += int(row["cpu_n"] or 0)
        if row["cpu_max"] is not None:
            self.cpu_max = max(self.cpu_max or 0.0, float(row["cpu_max"]))
        self.mem_sum += float(row["mem_sum"] or 0)
        self.n += int(row["n"])
        for i, key in enumerate(("rd", "wr", "rx", "tx")):
            self.bytes[i] += int(row[key] or 0)

    def use(self) -> Use:
        return Use(
            cpu_avg_vcpus=round(self.cpu_sum / self.cpu_n, 4) if self.cpu_n else None,
            cpu_max_vcpus=None if self.cpu_max is None else round(self.cpu_max, 4),
            memory_avg_mib=round(self.mem_sum / self.n) if self.n else None,
            disk_read_bytes=self.bytes[0],
            disk_write_bytes=self.bytes[1],
            net_rx_bytes=self.bytes[2],
            net_tx_bytes=self.bytes[3],
            samples=self.n,
        )


@dataclass(frozen=True)
class RolledUpTo:
    """Where the rollups end: samples from `hourly` on are not in an hourly rollup yet, hours
    from `daily` on not in a daily one (None: nothing rolled up yet)."""

    hourly: datetime | None
    daily: datetime | None


def rolled_up_to() -> RolledUpTo:
    last_hour = MeterHourly.objects.unscoped().aggregate(b=Max("bucket"))["b"]
    last_day = MeterDaily.objects.unscoped().aggregate(b=Max("bucket"))["b"]
    return RolledUpTo(
        hourly=None if last_hour is None else last_hour + timedelta(hours=1),
        daily=None if last_day is None else last_day + timedelta(days=1),
    )


# Where the rollups end, as SQL (see RolledUpTo): the last bucket of each, plus its length. With
# no rollup yet, the start of time, so that a bound `>= mark` holds for every row.
_START_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)

# The figures of one tier of a window, from raw samples and from rollups (SAMPLE_AGGREGATES and
# ROLLUP_AGGREGATES written out), in `_Sum`'s order.
_SAMPLE_FIGURES = (
    "SUM(cpu_used_vcpus), COUNT(cpu_used_vcpus), MAX(cpu_used_vcpus), "
    "SUM(memory_used_mib), COUNT(*), SUM(disk_read_delta), SUM(disk_write_delta), "
    "SUM(net_rx_delta), SUM(net_tx_delta)"
)
_ROLLUP_FIGURES = (
    "SUM(cpu_avg_vcpus * samples), SUM(CASE WHEN cpu_avg_vcpus IS NOT NULL THEN samples END), "
    "MAX(cpu_max_vcpus), SUM(CAST(memory_avg_mib AS BIGINT) * samples), SUM(samples), "
    "SUM(disk_read_bytes), SUM(disk_write_bytes), SUM(net_rx_bytes), SUM(net_tx_bytes)"
)
_FIGURES = ("cpu_sum", "cpu_n", "cpu_max", "mem_sum", "n", "rd", "wr", "rx", "tx")
_NO_FIGURES = ", ".join(["NULL"] * len(_FIGURES))


def _measured_use_sql(vendor: str) -> str:
    """One statement for a VM's measured use (`vm_metrics`), written out: the ORM's building
    of the same reads as nested subqueries cost some 40 times the query. One row per tier of
    each window (`tag`, no time, the figures), per hour of the chart (`chart`, its hour, the
    mean CPU as the first figure) and per table's first measurement (`first`, its time).

    Named parameters (`_measured_use`): the VM's id, the windows' and the chart's lower bounds,
    and the start of time that the marks (where the rollups end) take with no rollup yet."""
    samples = MeterSample._meta.db_table
    hourly = MeterHourly._meta.db_table
    daily = MeterDaily._meta.db_table
    last_hour = f"SELECT MAX(bucket) FROM {hourly}"  # noqa: S608 - the model's table
    last_day = f"SELECT MAX(bucket) FROM {daily}"  # noqa: S608 - the model's table
    if vendor == "postgresql":
        no_time = "CAST(NULL AS TIMESTAMP WITH TIME ZONE)"
        hour_mark = f"COALESCE(({last_hour}), %(epoch)s) + INTERVAL '1 hour'"
        day_mark = f"COALESCE(({last_day}), %(epoch)s) + INTERVAL '1 day'"
        hour_of_at = "DATE_TRUNC('hour', at, 'UTC')"
    else:  # SQLite: datetimes are UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        no_time = "NULL"
        hour_mark = f"DATETIME(COALESCE(({last_hour}), %(epoch)s), '+1 hour')"
        day_mark = f"DATETIME(COALESCE(({last_day}), %(epoch)s), '+1 day')"
        hour_of_at = "SUBSTR(at, 1, 13) || ':00:00'"
    fig = _SAMPLE_FIGURES
    rol = _ROLLUP_FIGURES
    vm = "vm_id = %(vm)s"
    # Table names are the models', every value a parameter.
    return f"""
        WITH marks AS (SELECT {hour_mark} AS h, {day_mark} AS d)
        SELECT 'hour_samples', {no_time}, {fig} FROM {samples}
            WHERE {vm} AND at >= %(hour)s
        UNION ALL SELECT 'day_hourly', {no_time}, {rol} FROM {hourly}
            WHERE {vm} AND bucket >= %(day)s
        UNION ALL SELECT 'day_samples', {no_time}, {fig} FROM {samples}
            WHERE {vm} AND at >= %(day)s AND at >= (SELECT h FROM marks)
        UNION ALL SELECT 'month_daily', {no_time}, {rol} FROM {daily}
            WHERE {vm} AND bucket >= %(month)s
        UNION ALL SELECT 'month_hourly', {no_time}, {rol} FROM {hourly}
            WHERE {vm} AND bucket >= %(month)s AND bucket >= (SELECT d FROM marks)
        UNION ALL SELECT 'month_samples', {no_time}, {fig} FROM {samples}
            WHERE {vm} AND at >= %(month)s AND at >= (SELECT d FROM marks)
            AND at >= (SELECT h FROM marks)
        UNION ALL SELECT 'chart', bucket, cpu_avg_vcpus, {_NO_FIGURES[6:]} FROM {hourly}
            WHERE {vm} AND bucket >= %(chart)s
        UNION ALL SELECT 'chart', {hour_of_at}, AVG(cpu_used_vcpus), {_NO_FIGURES[6:]}
            FROM {samples} WHERE {vm} AND at >= %(chart)s AND at >= (SELECT h FROM marks)
            GROUP BY {hour_of_at}
        UNION ALL SELECT 'first', MIN(bucket), {_NO_FIGURES} FROM {daily} WHERE {vm}
        UNION ALL SELECT 'first', MIN(bucket), {_NO_FIGURES} FROM {hourly} WHERE {vm}
        UNION ALL SELECT 'first', MIN(at), {_NO_FIGURES} FROM {samples} WHERE {vm}
    """  # noqa: S608


@dataclass(frozen=True)
class _Measured:
    """The rows of `_measured_use_sql`, sorted out."""

    tiers: dict[str, dict[str, Any]]
    chart: dict[datetime, float | None]
    first: datetime | None


def _measured_use(vm_id: int, now: datetime) -> _Measured:
    """The windows' tiers as `_window` reads them (daily rollups for 30 days, then hourly
    ones, then the raw samples not rolled up yet, each tier starting where the one before
    ends), the chart's 24 hours (rollups, then samples not rolled up by hour) and the first
    measurement, in one query."""
    hour_floor = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    day_lower = (now - timedelta(days=1)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    month_lower = (
        (now - timedelta(days=30))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "vm": vm_id,
        "epoch": adapt(_START_OF_TIME),
        "hour": adapt(now - timedelta(hours=1)),
        "day": adapt(day_lower),
        "month": adapt(month_lower),
        "chart": adapt(hour_floor - timedelta(hours=23)),
    }
    with connection.cursor() as cursor:
        cursor.execute(_measured_use_sql(connection.vendor), params)
        rows = cursor.fetchall()
    tiers: dict[str, dict[str, Any]] = {}
    chart: dict[datetime, float | None] = {}
    firsts = []
    for tag, at, *figures in rows:
        when = as_datetime(at)
        if tag == "first":
            if when is not None:
                firsts.append(when)
        elif tag == "chart":
            if when is not None:
                chart[when] = None if figures[0] is None else float(figures[0])
        else:
            tiers[tag] = dict(zip(_FIGURES, figures, strict=True))
    return _Measured(tiers=tiers, chart=chart, first=min(firsts) if firsts else None)


def _window_use(measured: _Measured, prefix: str) -> Use:
    total = _Sum()
    for tier in ("daily", "hourly", "samples"):
        row = measured.tiers.get(f"{prefix}_{tier}")
        if row is not None:
            total.add(row)
    return total.use()


@dataclass(frozen=True)
class HourlyCpu:
    hour: datetime
    cpu_avg_vcpus: float | None


def _hourly_cpu(measured: _Measured, now: datetime) -> list[HourlyCpu]:
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [current - timedelta(hours=23 - i) for i in range(24)]
    return [HourlyCpu(hour=h, cpu_avg_vcpus=measured.chart.get(h)) for h in hours]


@dataclass(frozen=True)
class VmMetrics:
    vm: VirtualMachine
    last_hour: Use
    last_day: Use
    last_30_days: Use
    hourly_cpu: list[HourlyCpu]
    # Hours of measurements behind the figures (since the VM's first sample, at most 30 days).
    measured_hours: float
    # Sat idle over the last 24 hours (with a full day of samples), and a smaller flavor it fits.
    idle: bool
    suggested_flavor: Flavor | None


IDLE_CPU_SHARE = 0.05
IDLE_MEMORY_SHARE = 0.5


def _smaller_flavor(candidates: list[Flavor], vm: VirtualMachine, day: Use) -> Flavor | None:
    """The smallest flavor that holds the day's peak CPU and twice its mean memory, if it is
    smaller than the VM's own (`candidates`: those no bigger than it, smallest first)."""
    need_cpu = max(1, math.ceil(day.cpu_max_vcpus or 0.0))
    need_ram = max(64, 2 * (day.memory_avg_mib or 0))
    return next((f for f in candidates if f.vcpus >= need_cpu and f.ram_mib >= need_ram), None)


def _smaller_flavors(fetched_by: User, vm: VirtualMachine) -> list[Flavor]:
    """The flavors the user may choose that are no bigger than the VM's, smallest first."""
    cur = vm.flavor
    return list(
        flavor_list(fetched_by=fetched_by)
        .filter(disk_gib__gte=cur.disk_gib, vcpus__lte=cur.vcpus, ram_mib__lte=cur.ram_mib)
        .exclude(vcpus=cur.vcpus, ram_mib=cur.ram_mib)
        .order_by("vcpus", "ram_mib", "disk_gib")
    )


def vm_metric_list(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    """The VMs whose measured use the user may read (those they see, deleted ones included)."""
    return vm_list(fetched_by=fetched_by, include_deleted=True)


def vm_metrics(
    *,
    fetched_by: User,
    vm_id: int,
    now: datetime | None = None,
    in_scope: VirtualMachine | None = None,
) -> VmMetrics:
    """A VM's measured use over the last hour, day and 30 days, its hourly CPU over the last
    24 hours, and whether it sat idle. Another tenant's VM raises VirtualMachine.DoesNotExist.
    `in_scope`: that VM already read in the user's scope (the VM page's), not read again."""
    if in_scope is not None and in_scope.pk == vm_id:
        vm = in_scope
    else:
        vm = vm_metric_list(fetched_by=fetched_by).get(pk=vm_id)
    now = now or timezone.now()
    measured = _measured_use(vm.pk, now)
    day = _window_use(measured, "day")
    first = measured.first
    measured_hours = 0.0 if first is None else (now - first).total_seconds() / 3600
    idle = (
        measured_hours >= 24
        and day.cpu_avg_vcpus is not None
        and day.memory_avg_mib is not None
        and day.cpu_avg_vcpus < IDLE_CPU_SHARE * vm.flavor.vcpus
        and day.memory_avg_mib < IDLE_MEMORY_SHARE * vm.flavor.ram_mib
    )
    # The flavors are read only for an idle VM (the only one offered a smaller flavor).
    suggested = _smaller_flavor(_smaller_flavors(fetched_by, vm), vm, day) if idle else None
    return VmMetrics(
        vm=vm,
        last_hour=_window_use(measured, "hour"),
        last_day=day,
        last_30_days=_window_use(measured, "month"),
        hourly_cpu=_hourly_cpu(measured, now),
        measured_hours=min(measured_hours, 30 * 24),
        idle=idle,
        suggested_flavor=suggested,
    )
