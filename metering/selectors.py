"""Reads of measured use (samples and rollups): per host and per VM loads for placement and DRS
(through `compute.loads`), and a VM's recent use beside its allocation, scoped to the
requesting user."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from compute.loads import HostLoad, VmLoad
from compute.models import Flavor, VirtualMachine
from compute.selectors import flavor_list, vm_list
from metering.models import MeterDaily, MeterHourly, MeterSample
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


def _window(vm_id: int, since: datetime, marks: RolledUpTo, *, tiers: int) -> Use:
    """Use since `since`: daily rollups (tiers=3), then hourly ones (tiers>=2), then the raw
    samples not rolled up yet. A window read from rollups starts at the start of the bucket
    that holds `since` (the last 24 hours: 24 whole hours and the current one so far)."""
    total = _Sum()
    lower = since
    if tiers >= 2:
        lower = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if tiers >= 3:
        lower = lower.replace(hour=0)
    if tiers >= 3 and marks.daily is not None and marks.daily > lower:
        days = MeterDaily.objects.unscoped().filter(
            vm_id=vm_id, bucket__gte=lower, bucket__lt=marks.daily
        )
        total.add(days.aggregate(**ROLLUP_AGGREGATES))
        lower = marks.daily
    if tiers >= 2 and marks.hourly is not None and marks.hourly > lower:
        hours = MeterHourly.objects.unscoped().filter(
            vm_id=vm_id, bucket__gte=lower, bucket__lt=marks.hourly
        )
        total.add(hours.aggregate(**ROLLUP_AGGREGATES))
        lower = marks.hourly
    total.add(MeterSample.objects.filter(vm_id=vm_id, at__gte=lower).aggregate(**SAMPLE_AGGREGATES))
    return total.use()


@dataclass(frozen=True)
class HourlyCpu:
    hour: datetime
    cpu_avg_vcpus: float | None


def _hourly_cpu(vm_id: int, now: datetime, marks: RolledUpTo) -> list[HourlyCpu]:
    """Mean CPU of each of the last 24 hours (the current one so far), oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [current - timedelta(hours=23 - i) for i in range(24)]
    values: dict[datetime, float | None] = {}
    rolled = MeterHourly.objects.unscoped().filter(vm_id=vm_id, bucket__gte=hours[0])
    if marks.hourly is not None:
        rolled = rolled.filter(bucket__lt=marks.hourly)
    values.update(rolled.values_list("bucket", "cpu_avg_vcpus"))
    raw_from = max(hours[0], marks.hourly) if marks.hourly is not None else hours[0]
    raw = (
        MeterSample.objects.filter(vm_id=vm_id, at__gte=raw_from)
        .annotate(b=TruncHour("at", tzinfo=UTC))
        .order_by()
        .values_list("b")
        .annotate(cpu=Avg("cpu_used_vcpus"))
    )
    values.update(raw)
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


def _first_measured(vm_id: int) -> datetime | None:
    firsts = [
        MeterDaily.objects.unscoped().filter(vm_id=vm_id).aggregate(t=Min("bucket"))["t"],
        MeterHourly.objects.unscoped().filter(vm_id=vm_id).aggregate(t=Min("bucket"))["t"],
        MeterSample.objects.filter(vm_id=vm_id).aggregate(t=Min("at"))["t"],
    ]
    known = [t for t in firsts if t is not None]
    return min(known) if known else None


def _smaller_flavor(fetched_by: User, vm: VirtualMachine, day: Use) -> Flavor | None:
    """The smallest flavor that holds the day's peak CPU and twice its mean memory, if it is
    smaller than the VM's own."""
    cur = vm.flavor
    need_cpu = max(1, math.ceil(day.cpu_max_vcpus or 0.0))
    need_ram = max(64, 2 * (day.memory_avg_mib or 0))
    return (
        flavor_list(fetched_by=fetched_by)
        .filter(
            vcpus__gte=need_cpu,
            ram_mib__gte=need_ram,
            disk_gib__gte=cur.disk_gib,
            vcpus__lte=cur.vcpus,
            ram_mib__lte=cur.ram_mib,
        )
        .exclude(vcpus=cur.vcpus, ram_mib=cur.ram_mib)
        .order_by("vcpus", "ram_mib", "disk_gib")
        .first()
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
    marks = rolled_up_to()
    day = _window(vm.pk, now - timedelta(days=1), marks, tiers=2)
    first = _first_measured(vm.pk)
    measured = 0.0 if first is None else (now - first).total_seconds() / 3600
    idle = (
        measured >= 24
        and day.cpu_avg_vcpus is not None
        and day.memory_avg_mib is not None
        and day.cpu_avg_vcpus < IDLE_CPU_SHARE * vm.flavor.vcpus
        and day.memory_avg_mib < IDLE_MEMORY_SHARE * vm.flavor.ram_mib
    )
    return VmMetrics(
        vm=vm,
        last_hour=_window(vm.pk, now - timedelta(hours=1), marks, tiers=1),
        last_day=day,
        last_30_days=_window(vm.pk, now - timedelta(days=30), marks, tiers=3),
        hourly_cpu=_hourly_cpu(vm.pk, now, marks),
        measured_hours=min(measured, 30 * 24),
        idle=idle,
        suggested_flavor=_smaller_flavor(fetched_by, vm, day) if idle else None,
    )
