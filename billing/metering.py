"""Reads of measured use (metering samples and rollups): per host and per VM loads for placement
and DRS, and a VM's recent use beside its allocation, scoped to the requesting user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Avg, Count

from billing.models import MeterSample


@dataclass(frozen=True)
class HostLoad:
    """What a host's running VMs used on average over a window: CPU in vCPU-equivalents (1.0 is
    one host CPU busy all the time), memory the guests use, and how many samples say so."""

    cpu_used_vcpus: float
    mem_used_mib: int
    samples: int


@dataclass(frozen=True)
class VmLoad:
    cpu_used_vcpus: float
    mem_used_mib: int


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
        cursor.execute(sql, [since])
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
