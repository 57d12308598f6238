"""Writes of measured use: one sampling cycle per host (bulk insert of every running VM's
counters and its use since the previous cycle), the hourly and daily rollups, and pruning.

Nothing here touches the usage ledger: a host that cannot be sampled leaves a gap in these
tables and changes no charge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from compute import hypervisor
from compute.choices import HostStatus, VMState
from compute.hypervisor import DomainStats
from compute.models import Host, VirtualMachine, host_status_q
from metering.models import MeterDaily, MeterHourly, MeterRollup, MeterSample
from metering.selectors import ROLLUP_AGGREGATES, SAMPLE_AGGREGATES

logger = logging.getLogger(__name__)

# Columns written by a sampling cycle, in the order of the rows built below.
SAMPLE_COLUMNS = (
    "vm_id", "host_id", "at", "cpu_time_ns", "disk_read_bytes", "disk_write_bytes",
    "net_rx_bytes", "net_tx_bytes", "vcpus", "memory_mib", "memory_used_mib",
    "interval_seconds", "cpu_used_vcpus", "disk_read_delta", "disk_write_delta",
    "net_rx_delta", "net_tx_delta",
)  # fmt: skip
# Their PostgreSQL types, for COPY in binary format (no text formatting and parsing of values).
SAMPLE_COPY_TYPES = (
    "int8", "int8", "timestamptz", "int8", "int8", "int8", "int8", "int8", "int4", "int4",
    "int4", "float8", "float8", "int8", "int8", "int8", "int8",
)  # fmt: skip
SampleRow = tuple[Any, ...]

# Averages are rounded so that recomputing a bucket gives the very same figures, whatever order
# the database happened to add the samples in.
_DIGITS = 6


def _setting(name: str, default: float) -> float:
    return float(settings.NUAGE.get(name, default))


def max_gap() -> timedelta:
    """A previous sample older than this gives no rate: the gap says nothing about when the
    use happened (the default is a few collection intervals)."""
    return timedelta(seconds=_setting("METER_MAX_GAP_SECONDS", 600))


def retention() -> timedelta:
    return timedelta(days=_setting("METER_RETENTION_DAYS", 2))


def hosts_to_sample() -> list[int]:
    """Enabled hosts that answer (maintenance included: they still run VMs until emptied)."""
    return list(
        Host.objects.filter(host_status_q(HostStatus.UP, HostStatus.MAINTENANCE))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- one sampling cycle ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    host_id: int
    at: datetime
    cpu_time_ns: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int


def _previous_samples(vm_ids: Sequence[int], *, since: datetime) -> dict[int, _Previous]:
    fields = (
        "vm_id", "host_id", "at", "cpu_time_ns", "disk_read_bytes", "disk_write_bytes",
        "net_rx_bytes", "net_tx_bytes",
    )  # fmt: skip
    qs = MeterSample.objects.filter(vm_id__in=vm_ids, at__gte=since).order_by("vm_id", "-at")
    if connection.vendor == "postgresql":
        qs = qs.distinct("vm_id")
    latest: dict[int, _Previous] = {}
    for row in qs.values_list(*fields):
        if row[0] not in latest:
            latest[row[0]] = _Previous(*row[1:])
    return latest


def sample_row(
    *, vm_id: int, host_id: int, at: datetime, stats: DomainStats, vcpus: int,
    previous: _Previous | None,
) -> SampleRow:  # fmt: skip
    """The row for one VM: counters now, and the use since the previous sample when the
    counters continue it (same host, none went backwards); otherwise a new baseline that
    counts no use."""
    counters = (
        stats.cpu_time_ns, stats.disk_read_bytes, stats.disk_write_bytes,
        stats.net_rx_bytes, stats.net_tx_bytes,
    )  # fmt: skip
    interval: float | None = None
    cpu_used: float | None = None
    deltas: tuple[int, ...] = (0, 0, 0, 0)
    if previous is not None:
        before = (
            previous.cpu_time_ns, previous.disk_read_bytes, previous.disk_write_bytes,
            previous.net_rx_bytes, previous.net_tx_bytes,
        )  # fmt: skip
        continued = previous.host_id == host_id and all(
            n >= b for n, b in zip(counters, before, strict=True)
        )
        if continued:
            interval = (at - previous.at).total_seconds()
            cpu_used = round((counters[0] - before[0]) / 1e9 / interval, _DIGITS)
            deltas = (
                counters[1] - before[1], counters[2] - before[2],
                counters[3] - before[3], counters[4] - before[4],
            )  # fmt: skip
        # Otherwise the domain restarted or moved (a live migration, a host change) after the
        # previous sample: its counters now are another QEMU process's, and their value says
        # nothing about the use since then (a destination's counters may even run ahead of
        # the source's). This sample is a new baseline: no rate and no bytes, the next sample
        # on this host counts from it.
    return (
        vm_id, host_id, at, *counters, vcpus or stats.vcpus, stats.memory_kib // 1024,
        stats.memory_used_mib, interval, cpu_used, *deltas,
    )  # fmt: skip


def insert_samples(rows: Iterable[SampleRow]) -> int:
    """Bulk insert: COPY on PostgreSQL, multi-row INSERTs elsewhere (the demo's SQLite)."""
    rows = list(rows)
    if not rows:
        return 0
    table = MeterSample._meta.db_table
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        sql = f"COPY {table} ({', '.join(SAMPLE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with connection.connection.cursor() as cursor:  # the psycopg cursor itself
            with cursor.copy(sql) as copy:
                copy.set_types(SAMPLE_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        return len(rows)
    MeterSample.objects.bulk_create(
        (MeterSample(**dict(zip(SAMPLE_COLUMNS, row, strict=True))) for row in rows),
        batch_size=500,
    )
    return len(rows)


@dataclass(frozen=True)
class CycleResult:
    host_id: int
    domains: int
    stored: int
    error: str = ""


def sample_host(*, host_id: int, at: datetime | None = None) -> CycleResult:
    """Read every running domain's counters on the host in one bulk call and store one sample
    per Nuage VM among them, in one transaction. Rerun at the same instant, it stores nothing
    more; a host that does not answer stores nothing and says why."""
    results = sample_hosts(host_ids=[host_id], at=at)
    if not results:
        raise Host.DoesNotExist(f"No host {host_id}.")
    return results[0]


def sample_hosts(*, host_ids: Sequence[int], at: datetime | None = None) -> list[CycleResult]:
    """`sample_host` for several hosts at once: each host is asked in turn, then the database
    is read and written once for all of them (the VMs, their previous samples, one COPY), in
    one transaction with the hosts' rows locked in key order. At thousands of hosts, one task
    and five queries per host cost more than the sampling itself (docs/benchmarks.md).

    Without `at`, each host's samples are stamped when its answer came. A VM found on two hosts
    of the batch at one instant (the two ends of a live migration) is stored once, from the
    host it is placed on.
    """
    hosts = {
        pk: (name, uri)
        for pk, name, uri in Host.objects.filter(pk__in=host_ids).values_list("pk", "name", "uri")
    }
    results: dict[int, CycleResult] = {}
    answers: list[tuple[int, datetime, list[DomainStats]]] = []
    for host_id in sorted(hosts):
        try:
            stats = hypervisor.domain_stats(hosts[host_id][1])
        except hypervisor.HypervisorError as exc:
            logger.warning("Metering: host %s not sampled: %s", hosts[host_id][0], exc)
            results[host_id] = CycleResult(host_id=host_id, domains=0, stored=0, error=str(exc))
            continue
        answers.append((host_id, at or timezone.now(), stats))
    uuids = {s.uuid for _h, _at, stats in answers for s in stats}
    vms = {
        str(uuid): (pk, vcpus, placed_on)
        for pk, uuid, vcpus, placed_on in VirtualMachine.objects.unscoped()
        .filter(uuid__in=list(uuids))
        .exclude(state=VMState.DELETED)
        .values_list("pk", "uuid", "flavor__vcpus", "host_id")
    }
    if answers:
        with transaction.atomic():
            # One cycle per host at a time: a second one waits, then computes its deltas
            # against what the first stored (or finds it already stored and stores nothing).
            list(
                Host.objects.select_for_update()
                .filter(pk__in=[h for h, _at, _s in answers])
                .order_by("pk")
                .values_list("pk")
            )
            earliest = min(when for _h, when, _s in answers)
            previous = _previous_samples(
                [pk for pk, _v, _h in vms.values()], since=earliest - max_gap()
            )
            rows: dict[tuple[int, datetime], SampleRow] = {}
            stored: dict[int, int] = {}
            for host_id, when, stats in answers:
                for s in stats:
                    vm = vms.get(s.uuid)
                    if vm is None:
                        continue
                    pk, vcpus, placed_on = vm
                    prev = previous.get(pk)
                    if prev is not None and prev.at >= when:
                        continue
                    key = (pk, when)
                    if key in rows and placed_on != host_id:
                        continue
                    if key in rows:
                        stored[rows[key][1]] -= 1
                    rows[key] = sample_row(
                        vm_id=pk, host_id=host_id, at=when, stats=s, vcpus=vcpus, previous=prev
                    )
                    stored[host_id] = stored.get(host_id, 0) + 1
            insert_samples(rows.values())
        for host_id, _when, stats in answers:
            results[host_id] = CycleResult(
                host_id=host_id, domains=len(stats), stored=stored.get(host_id, 0)
            )
    return [results[h] for h in host_ids if h in results]


# --- rollups and pruning -----------------------------------------------------------------------


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _floor_day(at: datetime) -> datetime:
    return _floor_hour(at).replace(hour=0)


@dataclass
class _Acc:
    """Figures of one (VM, bucket) summed across the hosts it ran on during the bucket."""

    tenant_id: int
    host_id: int | None = None
    last_at: datetime | None = None
    cpu_sum: float = 0.0
    cpu_n: int = 0
    cpu_max: float | None = None
    mem_sum: float = 0.0
    n: int = 0
    rd: int = 0
    wr: int = 0
    rx: int = 0
    tx: int = 0

    def add(self, row: dict[str, Any]) -> None:
        if self.last_at is None or row["last_at"] > self.last_at:
            self.last_at, self.host_id = row["last_at"], row["host_id"]
        self.cpu_sum += float(row["cpu_sum"] or 0.0)
        self.cpu_n += int(row["cpu_n"])
        if row["cpu_max"] is not None:
            self.cpu_max = max(self.cpu_max or 0.0, float(row["cpu_max"]))
        self.mem_sum += float(row["mem_sum"] or 0)
        self.n += int(row["n"])
        self.rd += int(row["rd"] or 0)
        self.wr += int(row["wr"] or 0)
        self.rx += int(row["rx"] or 0)
        self.tx += int(row["tx"] or 0)

    def fields(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "tenant_id": self.tenant_id,
            "cpu_avg_vcpus": round(self.cpu_sum / self.cpu_n, _DIGITS) if self.cpu_n else None,
            "cpu_max_vcpus": None if self.cpu_max is None else round(self.cpu_max, _DIGITS),
            "memory_avg_mib": round(self.mem_sum / self.n) if self.n else 0,
            "disk_read_bytes": self.rd,
            "disk_write_bytes": self.wr,
            "net_rx_bytes": self.rx,
            "net_tx_bytes": self.tx,
            "samples": self.n,
        }


_ROLLUP_FIELDS = [
    "host", "tenant", "cpu_avg_vcpus", "cpu_max_vcpus", "memory_avg_mib", "disk_read_bytes",
    "disk_write_bytes", "net_rx_bytes", "net_tx_bytes", "samples",
]  # fmt: skip


def _upsert(model: type[MeterRollup], accs: dict[tuple[int, datetime], _Acc]) -> int:
    objs = [
        model(vm_id=vm_id, bucket=bucket, **acc.fields())
        for (vm_id, bucket), acc in sorted(accs.items())
    ]
    model._default_manager.bulk_create(
        objs,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["vm", "bucket"],
        update_fields=_ROLLUP_FIELDS,
    )
    return len(objs)


def _rollup(
    *,
    target: type[MeterHourly] | type[MeterDaily],
    source: type[MeterSample] | type[MeterHourly],
    at_field: str,
    floor: Callable[[datetime], datetime],
    trunc: type[TruncHour] | type[TruncDay],
    tenant_field: str,
    aggregates: dict[str, Any],
    now: datetime,
) -> int:
    """Every complete bucket of `target` from the last one rolled up (recomputed: a row
    committed just after the previous run lands in it) to the last complete one, from the
    rows of `source`; returns the rows written."""
    end = floor(now)
    last = target.objects.aggregate(last=Max("bucket"))["last"]
    if last is None:
        first = source.objects.aggregate(first=Min(at_field))["first"]
        if first is None:
            return 0
        last = floor(first)
    if last >= end:
        return 0
    rows = (
        source.objects.filter(**{f"{at_field}__gte": last, f"{at_field}__lt": end})
        .annotate(b=trunc(at_field, tzinfo=UTC))
        .order_by()
        .values("vm_id", "b", "host_id")
        .annotate(tenant_ref=Max(tenant_field), last_at=Max(at_field), **aggregates)
    )
    accs: dict[tuple[int, datetime], _Acc] = {}
    for row in cast(Iterable[dict[str, Any]], rows):
        row["cpu_n"] = row["cpu_n"] or 0
        key = (row["vm_id"], row["b"])
        accs.setdefault(key, _Acc(tenant_id=row["tenant_ref"])).add(row)
    return _upsert(target, accs)


def rollup_hourly(*, now: datetime) -> int:
    """Hourly rollups of the raw samples."""
    return _rollup(
        target=MeterHourly,
        source=MeterSample,
        at_field="at",
        floor=_floor_hour,
        trunc=TruncHour,
        tenant_field="vm__tenant_id",
        aggregates=SAMPLE_AGGREGATES,
        now=now,
    )


def rollup_daily(*, now: datetime) -> int:
    """Daily (UTC) rollups of the hourly ones."""
    return _rollup(
        target=MeterDaily,
        source=MeterHourly,
        at_field="bucket",
        floor=_floor_day,
        trunc=TruncDay,
        tenant_field="tenant_id",
        aggregates=ROLLUP_AGGREGATES,
        now=now,
    )


def prune_samples(*, now: datetime) -> int:
    """Delete raw samples older than the retention, but only from hours already rolled up and
    never from the last one rolled up (the next run recomputes it)."""
    last = MeterHourly.objects.unscoped().aggregate(last=Max("bucket"))["last"]
    if last is None:
        return 0
    cutoff = min(_floor_hour(now - retention()), last)
    deleted, _ = MeterSample.objects.filter(at__lt=cutoff).delete()
    return deleted


@dataclass(frozen=True)
class RollupResult:
    hourly: int
    daily: int
    pruned: int


def rollup(*, now: datetime | None = None) -> RollupResult:
    """Hourly, then daily rollups, then pruning, in one transaction: rerun, it writes the same
    figures; after a missed run it covers every complete bucket since the last one."""
    now = now or timezone.now()
    with transaction.atomic():
        hourly = rollup_hourly(now=now)
        daily = rollup_daily(now=now)
        pruned = prune_samples(now=now)
    return RollupResult(hourly=hourly, daily=daily, pruned=pruned)
