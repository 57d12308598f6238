"""Placement: the one sum of what each host has allocated, and claiming a host under its lock."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum, Value

from compute import hypervisor, scheduler
from compute.choices import PLACED_STATES, DomainType, HostStatus, VMState
from compute.models import Host, Operation, VirtualMachine, host_status
from compute.scheduler import HostState, PlacementRequest
from compute.services._common import _ACTIVE
from portal.prepared import JoinedStatement, joined_statement, prepared_cursor, prepares


def _placement_request(vm: VirtualMachine) -> PlacementRequest:
    avoid: frozenset[int] = frozenset()
    if vm.anti_affinity_group:
        avoid = frozenset(
            VirtualMachine.objects.unscoped()
            .filter(
                tenant_id=vm.tenant_id,
                anti_affinity_group=vm.anti_affinity_group,
                state__in=PLACED_STATES,
                host__isnull=False,
            )
            .exclude(pk=vm.pk)
            .values_list("host_id", flat=True)
        )
    return PlacementRequest(
        vcpus=vm.flavor.vcpus,
        ram_mib=vm.flavor.ram_mib,
        disk_gib=vm.flavor.disk_gib,
        environment=vm.environment.name,
        avoid_host_ids=avoid,
    )


_HOST_STATE_FIELDS = (
    "id",
    "enabled",
    "maintenance",
    "reachable",
    "down_since",
    "cpus",
    "memory_mib",
    "disk_gib",
    "cpu_ratio",
    "ram_ratio",
    "disk_ratio",
    "tags",
)


@dataclass(frozen=True, slots=True)
class HostAllocation:
    """What a host has handed out: the flavors of the VMs placed on it and of those migrating to
    it. `vms` and `running` count only the VMs placed on it; `incoming` the migrations."""

    vms: int = 0
    running: int = 0
    incoming: int = 0
    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0


def host_allocations(host_ids: Collection[int] | None = None) -> dict[int, HostAllocation]:
    """The one sum of what each host has allocated, for placement, DRS and the capacity pages.

    A VM counts on its host while it is in a placed state. A VM migrating to a host counts
    there too from the start of the migration (the target's claim) until its row switches to
    that host (then it counts as placed there, once); until then it also counts on its source.
    One query whatever the number of hosts (the placed VMs' sums grouped by host, UNION ALL
    the incoming migrations' grouped by target); `host_ids` limits it to those hosts.
    """
    if connection.vendor == "postgresql":
        rows = _allocation_rows(host_ids)
    else:
        rows = _allocation_rows_orm(host_ids)
    sums: dict[int, HostAllocation] = {}
    # Placed rows first: an incoming migration adds to what is already placed on its target.
    for host_id, is_incoming, n, running, vcpus, ram, disk in sorted(rows, key=lambda r: r[1]):
        own = sums.get(host_id, HostAllocation())
        if is_incoming:
            sums[host_id] = replace(
                own,
                incoming=n,
                vcpus=own.vcpus + (vcpus or 0),
                ram_mib=own.ram_mib + (ram or 0),
                disk_gib=own.disk_gib + (disk or 0),
            )
        else:
            sums[host_id] = HostAllocation(
                vms=n, running=running, vcpus=vcpus or 0, ram_mib=ram or 0, disk_gib=disk or 0
            )
    return sums


# `host_allocations` on PostgreSQL, written out and prepared (portal/prepared.py): every
# placement runs it, on the way from an approval to the guest running; the ORM's building and
# compiling of the UNION cost more CPU than PostgreSQL's running it, and its planning again at
# every call as much. `{hosts}` narrows both parts to some hosts. The states are written in the
# text, not bound: the statement is planned once for all runs (a generic plan), and the plan
# then knows which states it sums (how many rows that is, whether the state index helps).
def _states(values: Collection[str]) -> str:
    assert all(v.isidentifier() and v.islower() for v in values), values  # our own choices
    return ", ".join(f"'{v}'" for v in sorted(values))


_RUNNING, _PLACED = _states([VMState.RUNNING]), _states(PLACED_STATES)
_ACTIVE_OPS = _states(_ACTIVE)
_ALLOCATIONS_SQL = f"""
SELECT vm.host_id, false, COUNT(*), COUNT(*) FILTER (WHERE vm.state = {_RUNNING}),
       SUM(f.vcpus), SUM(f.ram_mib), SUM(f.disk_gib)
FROM compute_virtualmachine vm
LEFT OUTER JOIN compute_flavor f ON f.id = vm.flavor_id
WHERE vm.host_id IS NOT NULL AND vm.state IN ({_PLACED}){{placed_hosts}}
GROUP BY vm.host_id
UNION ALL
SELECT op.target_host_id, true, COUNT(*), 0, SUM(f.vcpus), SUM(f.ram_mib), SUM(f.disk_gib)
FROM compute_operation op
INNER JOIN compute_virtualmachine vm ON vm.id = op.vm_id
LEFT OUTER JOIN compute_flavor f ON f.id = vm.flavor_id
WHERE op.target_host_id IS NOT NULL AND op.status IN ({_ACTIVE_OPS})
  AND vm.host_id IS DISTINCT FROM op.target_host_id{{incoming_hosts}}
GROUP BY op.target_host_id
"""  # noqa: S608 (the states are our own choices' values, checked above)


def _allocation_rows(host_ids: Collection[int] | None) -> list[tuple[Any, ...]]:
    narrow = host_ids is not None
    sql = _ALLOCATIONS_SQL.format(
        placed_hosts=" AND vm.host_id = ANY(%s)" if narrow else "",
        incoming_hosts=" AND op.target_host_id = ANY(%s)" if narrow else "",
    )
    params: list[Any] = [list(host_ids)] * 2 if host_ids is not None else []
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _allocation_rows_orm(host_ids: Collection[int] | None) -> list[tuple[Any, ...]]:
    placed = VirtualMachine.objects.unscoped().filter(host__isnull=False, state__in=PLACED_STATES)
    incoming = (
        Operation.objects.unscoped()
        .filter(target_host__isnull=False, status__in=_ACTIVE)
        .exclude(vm__host_id=F("target_host_id"))
    )
    if host_ids is not None:
        placed = placed.filter(host_id__in=host_ids)
        incoming = incoming.filter(target_host_id__in=host_ids)
    columns = ("host", "is_incoming", "n", "running", "vcpus", "ram", "disk")
    placed_sums = (
        placed.values("host_id")
        .annotate(
            host=F("host_id"),
            is_incoming=Value(False),
            n=Count("id"),
            running=Count("id", filter=Q(state=VMState.RUNNING)),
            vcpus=Sum("flavor__vcpus"),
            ram=Sum("flavor__ram_mib"),
            disk=Sum("flavor__disk_gib"),
        )
        .values_list(*columns)
        .order_by()
    )
    incoming_sums = (
        incoming.values("target_host_id")
        .annotate(
            host=F("target_host_id"),
            is_incoming=Value(True),
            n=Count("id"),
            running=Value(0),
            vcpus=Sum("vm__flavor__vcpus"),
            ram=Sum("vm__flavor__ram_mib"),
            disk=Sum("vm__flavor__disk_gib"),
        )
        .values_list(*columns)
        .order_by()
    )
    return list(placed_sums.union(incoming_sums, all=True))


_NO_ALLOCATION = HostAllocation()
_NOT_ENABLED = (HostStatus.DISABLED, HostStatus.MAINTENANCE)
_NOT_UP = (HostStatus.DOWN, HostStatus.UNREACHABLE)


def _host_states(hosts: QuerySet[Host]) -> list[HostState]:
    """What the scheduler needs to know of each host: its status and `host_allocations`.

    Rows are read as tuples, not model instances, and the platform's default ratios once:
    this runs once per decision over every host. The host rows are read (and, with
    select_for_update, locked) before the allocation is summed, so that the sum includes
    every claim committed before the lock was granted. Only a host whose status is `up` takes
    new VMs (`compute.models.host_status`).
    """
    return _states_of(list(hosts.values_list(*_HOST_STATE_FIELDS)))


def _states_of(rows: list[tuple[Any, ...]]) -> list[HostState]:
    """`_host_states` of host rows already read (`_HOST_STATE_FIELDS`, in that order), and
    locked if the caller locks: the allocations are summed after."""
    used = host_allocations()
    default = {r: float(settings.NUAGE[f"{r}_RATIO"]) for r in ("CPU", "RAM", "DISK")}
    states = []
    for (
        host_id,
        enabled,
        maintenance,
        reachable,
        down_since,
        cpus,
        memory_mib,
        disk_gib,
        cpu_ratio,
        ram_ratio,
        disk_ratio,
        tags,
    ) in rows:
        status = host_status(
            enabled=enabled, maintenance=maintenance, reachable=reachable, down_since=down_since
        )
        alloc = used.get(host_id, _NO_ALLOCATION)
        states.append(
            HostState(
                id=host_id,
                enabled=status not in _NOT_ENABLED,
                up=status not in _NOT_UP,
                cpus=cpus,
                ram_mib=memory_mib,
                disk_gib=disk_gib,
                cpu_ratio=default["CPU"] if cpu_ratio is None else float(cpu_ratio),
                ram_ratio=default["RAM"] if ram_ratio is None else float(ram_ratio),
                disk_ratio=default["DISK"] if disk_ratio is None else float(disk_ratio),
                used_vcpus=alloc.vcpus,
                used_ram_mib=alloc.ram_mib,
                used_disk_gib=alloc.disk_gib,
                tags=frozenset(tags) if tags else frozenset(),
            )
        )
    return states


def _placement_choose(
    vm: VirtualMachine, *, exclude: Host | None = None, shared_pool: str | None = None
) -> Host:
    """The scheduler's host for the VM, under the candidate host rows' locks (pk order).

    Callers write the claim (the VM's host, or a migration's target) in the same transaction.
    `exclude` is the host a VM leaves; `shared_pool` limits the choice to hosts sharing that
    storage pool (an HA restart, whose disk must be reachable there).
    """
    # The candidates' whole rows, locked (what follows sees every claim): the chosen host is
    # made from its row, not read again.
    hosts = {
        host.pk: host
        for host in _candidates(
            container=vm.is_container,
            exclude_id=exclude.pk if exclude is not None else None,
            shared_pool=shared_pool,
        )
    }
    states = _states_of(
        [tuple(getattr(host, name) for name in _HOST_STATE_FIELDS) for host in hosts.values()]
    )
    request = _placement_request(vm)
    placement = scheduler.choose_host(request, states, mode=settings.NUAGE["PLACEMENT_MODE"])
    if placement.host_id is None:
        raise hypervisor.HypervisorError(scheduler.describe_no_host(request, placement))
    return hosts[placement.host_id]


def _candidates(*, container: bool, exclude_id: int | None, shared_pool: str | None) -> list[Host]:
    """The hosts that may take the VM, locked in primary-key order: containers go on LXC
    hosts only, VMs never do (an LXC host runs no VM); not `exclude_id`; on `shared_pool`
    (shared storage) if given. On PostgreSQL one prepared statement per kind of question
    (`_candidates_statement`), as every placement asks it on the way to a guest running."""
    if not prepares():
        return list(_candidates_orm(container, exclude_id, shared_pool))
    statement = _candidates_statement(container, exclude_id is not None, shared_pool is not None)
    params = [p for p in (exclude_id, shared_pool) if p is not None]
    with prepared_cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    (part,) = statement.parts
    return [part.instance(row) for row in rows]


def _candidates_orm(
    container: bool, exclude_id: int | None, shared_pool: str | None
) -> QuerySet[Host]:
    candidates = Host.objects.select_for_update().order_by("pk")
    if container:
        candidates = candidates.filter(domain_type=DomainType.LXC)
    else:
        candidates = candidates.exclude(domain_type=DomainType.LXC)
    if exclude_id is not None:
        candidates = candidates.exclude(pk=exclude_id)
    if shared_pool is not None:
        candidates = candidates.filter(shared_storage=True, storage_pool=shared_pool)
    return candidates


@cache
def _candidates_statement(container: bool, excluding: bool, shared: bool) -> JoinedStatement:
    """`_candidates_orm`'s SELECT … FOR UPDATE written out; the domain type in its text (our
    own choice's value), the excluded host and the pool as parameters."""
    lxc = _states([DomainType.LXC])
    conditions = [f"h.domain_type {'=' if container else '<>'} {lxc}"]
    if excluding:
        conditions.append("h.id <> %s")
    if shared:
        conditions.append("h.shared_storage AND h.storage_pool = %s")
    where = " AND ".join(conditions)
    return joined_statement([("h", Host, "")], f"WHERE {where} ORDER BY h.id FOR UPDATE")


def _placement_refusal(vm: VirtualMachine, target: Host) -> str | None:
    """Why the scheduler would not put this VM on `target` (a chosen migration target)."""
    (state,) = _host_states(Host.objects.select_for_update().filter(pk=target.pk))
    reason = scheduler.reject_reason(state, _placement_request(vm))
    return None if reason is None else scheduler.describe_refusal(target.name, reason)


@transaction.atomic
def placement_claim(*, vm: VirtualMachine) -> Host:
    """Choose the VM's host and claim its capacity (the VM's host column) in one transaction.

    Every host row is locked in primary-key order before the allocation is summed, so two
    concurrent placements run one after the other and the second sees the first's claim: no
    host is ever given more than physical x ratio. The claim is released where the host
    column is cleared (a failed provisioning) or the VM leaves the placed states (deleted).
    """
    host = _placement_choose(vm)
    if prepares():
        table = VirtualMachine._meta.db_table
        with prepared_cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET host_id = %s WHERE id = %s", [host.pk, vm.pk])  # noqa: S608
    else:
        VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(host=host)
    vm.host = host
    return host
