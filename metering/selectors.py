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
    DateTimeField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from compute.loads import HostLoad, VmLoad
from compute.models import Flavor, VirtualMachine
from compute.selectors import flavor_list, vm_list
from metering.models import MeterDaily, MeterHourly, MeterSample
from portal.jsonrows import JSONRows, as_datetime, instances, model_rows
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


def _mark(model: type[MeterHourly | MeterDaily], length: timedelta) -> Any:
    last = model.objects.unscoped().order_by("-bucket").values("bucket")[:1]
    return ExpressionWrapper(
        Coalesce(Subquery(last), Value(_START_OF_TIME)) + Value(length),
        output_field=DateTimeField(),
    )


def _aggregates(qs: QuerySet[Any], aggregates: dict[str, Any]) -> JSONRows:
    """One row of `aggregates` over `qs` (a JSON array of it: one query's column)."""
    names = list(aggregates)
    return JSONRows(
        qs.order_by().values(**{f"jr{i}": aggregates[n] for i, n in enumerate(names)}), keys=names
    )


def _window_columns(vm_id: int, since: datetime, *, tiers: int, prefix: str) -> dict[str, Any]:
    """Use since `since` as `_window` reads it, as columns of one query: daily rollups (tiers=3),
    then hourly ones (tiers>=2), then the raw samples not rolled up yet, each tier starting
    where the one before ends (the marks are subqueries of the same query)."""
    lower = since
    if tiers >= 2:
        lower = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if tiers >= 3:
        lower = lower.replace(hour=0)
    samples = MeterSample.objects.filter(vm_id=vm_id, at__gte=lower)
    columns: dict[str, Any] = {}
    if tiers >= 3:
        days = MeterDaily.objects.unscoped().filter(vm_id=vm_id, bucket__gte=lower)
        columns[f"{prefix}_daily"] = _aggregates(days, ROLLUP_AGGREGATES)
        samples = samples.filter(at__gte=_mark(MeterDaily, timedelta(days=1)))
    if tiers >= 2:
        hours = MeterHourly.objects.unscoped().filter(vm_id=vm_id, bucket__gte=lower)
        if tiers >= 3:
            hours = hours.filter(bucket__gte=_mark(MeterDaily, timedelta(days=1)))
        columns[f"{prefix}_hourly"] = _aggregates(hours, ROLLUP_AGGREGATES)
        samples = samples.filter(at__gte=_mark(MeterHourly, timedelta(hours=1)))
    columns[f"{prefix}_samples"] = _aggregates(samples, SAMPLE_AGGREGATES)
    return columns


def _window_use(found: dict[str, Any], prefix: str) -> Use:
    total = _Sum()
    for tier in ("daily", "hourly", "samples"):
        for row in found.get(f"{prefix}_{tier}") or []:
            total.add(row)
    return total.use()


@dataclass(frozen=True)
class HourlyCpu:
    hour: datetime
    cpu_avg_vcpus: float | None


def _hourly_columns(vm_id: int, now: datetime) -> dict[str, Any]:
    """Mean CPU of each of the last 24 hours (the current one so far): the hourly rollups, then
    the raw samples not rolled up yet, by hour."""
    first = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    rolled = MeterHourly.objects.unscoped().filter(vm_id=vm_id, bucket__gte=first).order_by()
    raw = (
        MeterSample.objects.filter(vm_id=vm_id, at__gte=first)
        .filter(at__gte=_mark(MeterHourly, timedelta(hours=1)))
        .annotate(b=TruncHour("at", tzinfo=UTC))
        .order_by()
        .values("b")
        .annotate(cpu=Avg("cpu_used_vcpus"))
    )
    return {
        "hourly_rolled": JSONRows(
            rolled.values(jr0=F("bucket"), jr1=F("cpu_avg_vcpus")), keys=["b", "cpu"]
        ),
        "hourly_raw": JSONRows(raw),
    }


def _hourly_cpu(found: dict[str, Any], now: datetime) -> list[HourlyCpu]:
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [current - timedelta(hours=23 - i) for i in range(24)]
    values: dict[datetime | None, float | None] = {}
    for key in ("hourly_rolled", "hourly_raw"):
        for row in found.get(key) or []:
            cpu = row.get("cpu")
            values[as_datetime(row.get("b"))] = None if cpu is None else float(cpu)
    return [HourlyCpu(hour=h, cpu_avg_vcpus=values.get(h)) for h in hours]


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


def _first_columns(vm_id: int) -> dict[str, Any]:
    def first(qs: QuerySet[Any], field: str) -> Subquery:
        return Subquery(qs.filter(vm_id=vm_id).order_by(field).values(field)[:1])

    return {
        "first_daily": first(MeterDaily.objects.unscoped(), "bucket"),
        "first_hourly": first(MeterHourly.objects.unscoped(), "bucket"),
        "first_sample": first(MeterSample.objects.all(), "at"),
    }


def _first_measured(found: dict[str, Any]) -> datetime | None:
    firsts = [found[k] for k in ("first_daily", "first_hourly", "first_sample")]
    known = [t for t in firsts if t is not None]
    return min(known) if known else None


def _smaller_flavor(candidates: list[Flavor], vm: VirtualMachine, day: Use) -> Flavor | None:
    """The smallest flavor that holds the day's peak CPU and twice its mean memory, if it is
    smaller than the VM's own (`candidates`: those no bigger than it, smallest first)."""
    need_cpu = max(1, math.ceil(day.cpu_max_vcpus or 0.0))
    need_ram = max(64, 2 * (day.memory_avg_mib or 0))
    return next((f for f in candidates if f.vcpus >= need_cpu and f.ram_mib >= need_ram), None)


def _smaller_flavors(fetched_by: User, vm: VirtualMachine) -> JSONRows:
    cur = vm.flavor
    return model_rows(
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
    # One query: every window's tiers, the hourly chart, the first measurement and the flavors
    # a smaller suggestion could be, as columns of the VM's row.
    columns = {
        **_window_columns(vm.pk, now - timedelta(hours=1), tiers=1, prefix="hour"),
        **_window_columns(vm.pk, now - timedelta(days=1), tiers=2, prefix="day"),
        **_window_columns(vm.pk, now - timedelta(days=30), tiers=3, prefix="month"),
        **_hourly_columns(vm.pk, now),
        **_first_columns(vm.pk),
        "smaller_flavors": _smaller_flavors(fetched_by, vm),
    }
    row: Any = VirtualMachine.objects.unscoped().filter(pk=vm.pk).values(**columns).first()
    found: dict[str, Any] = row or {}
    day = _window_use(found, "day")
    first = _first_measured(found)
    measured = 0.0 if first is None else (now - first).total_seconds() / 3600
    idle = (
        measured >= 24
        and day.cpu_avg_vcpus is not None
        and day.memory_avg_mib is not None
        and day.cpu_avg_vcpus < IDLE_CPU_SHARE * vm.flavor.vcpus
        and day.memory_avg_mib < IDLE_MEMORY_SHARE * vm.flavor.ram_mib
    )
    smaller = instances(Flavor, found.get("smaller_flavors"))
    return VmMetrics(
        vm=vm,
        last_hour=_window_use(found, "hour"),
        last_day=day,
        last_30_days=_window_use(found, "month"),
        hourly_cpu=_hourly_cpu(found, now),
        measured_hours=min(measured, 30 * 24),
        idle=idle,
        suggested_flavor=_smaller_flavor(smaller, vm, day) if idle else None,
    )
