"""Placement: the one sum of what each host has allocated, and claiming a host under its lock."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet, Sum

from compute import hypervisor, scheduler
from compute.choices import PLACED_STATES
from compute.models import Host, Operation, VirtualMachine
from compute.scheduler import HostState, PlacementRequest
from compute.services._common import _ACTIVE


def _placement_request(vm: VirtualMachine) -> PlacementRequest:
    avoid: frozenset[int] = frozenset()
    if vm.anti_affinity_group:
        avoid = frozenset(
            VirtualMachine.objects.filter(
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


def _ratio(own: Decimal | None, resource: str) -> float:
    return float(own) if own is not None else float(settings.NUAGE[f"{resource}_RATIO"])


def _host_states(hosts: QuerySet[Host]) -> list[HostState]:
    """What the scheduler needs to know of each host; allocation is summed from placed VMs.

    Rows are read as values, not model instances: this runs once per decision over every
    host. The host rows are read (and, with select_for_update, locked) before the allocation
    is summed, so that the sum includes every claim committed before the lock was granted.
    A VM migrating to a host counts there from the start of its migration; a host in
    maintenance or declared down takes nothing new.
    """
    rows = list(hosts.values(*_HOST_STATE_FIELDS))
    used: dict[int, list[int]] = {}
    placed = (
        VirtualMachine.objects.filter(host__isnull=False, state__in=PLACED_STATES)
        .values("host_id")
        .annotate(
            vcpus=Sum("flavor__vcpus"), ram=Sum("flavor__ram_mib"), disk=Sum("flavor__disk_gib")
        )
        .order_by()
    )
    incoming = (
        Operation.objects.filter(target_host__isnull=False, status__in=_ACTIVE)
        .values("target_host_id")
        .annotate(
            vcpus=Sum("vm__flavor__vcpus"),
            ram=Sum("vm__flavor__ram_mib"),
            disk=Sum("vm__flavor__disk_gib"),
        )
        .order_by()
    )
    for host_id, vcpus, ram, disk in [
        *((r["host_id"], r["vcpus"], r["ram"], r["disk"]) for r in placed),
        *((r["target_host_id"], r["vcpus"], r["ram"], r["disk"]) for r in incoming),
    ]:
        total = used.setdefault(host_id, [0, 0, 0])
        total[0] += vcpus or 0
        total[1] += ram or 0
        total[2] += disk or 0
    states = []
    for h in rows:
        vcpus, ram, disk = used.get(h["id"], (0, 0, 0))
        states.append(
            HostState(
                id=h["id"],
                enabled=h["enabled"] and not h["maintenance"],
                up=h["reachable"] and h["down_since"] is None,
                cpus=h["cpus"],
                ram_mib=h["memory_mib"],
                disk_gib=h["disk_gib"],
                cpu_ratio=_ratio(h["cpu_ratio"], "CPU"),
                ram_ratio=_ratio(h["ram_ratio"], "RAM"),
                disk_ratio=_ratio(h["disk_ratio"], "DISK"),
                used_vcpus=vcpus,
                used_ram_mib=ram,
                used_disk_gib=disk,
                tags=frozenset(h["tags"]),
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
    candidates = Host.objects.select_for_update().order_by("pk")
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude.pk)
    if shared_pool is not None:
        candidates = candidates.filter(shared_storage=True, storage_pool=shared_pool)
    states = _host_states(candidates)  # takes the locks: what follows sees every claim
    request = _placement_request(vm)
    placement = scheduler.choose_host(request, states, mode=settings.NUAGE["PLACEMENT_MODE"])
    if placement.host_id is None:
        raise hypervisor.HypervisorError(scheduler.describe_no_host(request, placement))
    return Host.objects.get(pk=placement.host_id)


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
    VirtualMachine.objects.filter(pk=vm.pk).update(host=host)
    vm.host = host
    return host
