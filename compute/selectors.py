"""Reads of VMs, hosts, flavors and images, scoped to what the requesting user may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from compute.choices import PLACED_STATES, OperationStatus, VMState
from compute.models import Flavor, Host, Image, Operation, RollingMaintenance, VirtualMachine
from portal.models import User
from portal.selectors import sees_all_tenants, tenant_ids_of


def vm_list(*, fetched_by: User, include_deleted: bool = False) -> QuerySet[VirtualMachine]:
    qs = VirtualMachine.objects.select_related(
        "tenant", "environment", "owner", "flavor", "image", "host"
    )
    if not include_deleted:
        qs = qs.exclude(state=VMState.DELETED)
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(tenant_id__in=tenant_ids_of(fetched_by))


def vm_list_with_operation(
    *, fetched_by: User, include_deleted: bool = False
) -> QuerySet[VirtualMachine]:
    """VMs with their latest operation and its steps prefetched (for progress views)."""
    latest = Operation.objects.prefetch_related("steps").order_by("-created_at", "-id")
    return vm_list(fetched_by=fetched_by, include_deleted=include_deleted).prefetch_related(
        Prefetch("operations", queryset=latest, to_attr="operations_latest_first")
    )


# The orders a VM list can be sorted in (key → ORDER BY, always ending on the primary key so that
# pages never overlap or skip); each is served by an index beginning with tenant_id.
VM_SORTS: dict[str, tuple[str, ...]] = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "state": ("state", "-created_at", "-id"),
    "-state": ("-state", "-created_at", "-id"),
}
DEFAULT_VM_SORT = "-created"


def vm_list_filtered(
    *,
    fetched_by: User,
    tenant_id: int | None = None,
    state: str = "",
    environment_name: str = "",
    name_contains: str = "",
    sort: str = DEFAULT_VM_SORT,
) -> QuerySet[VirtualMachine]:
    """The VM list as the browser shows it: in scope, filtered and in a stable order."""
    qs = vm_list(fetched_by=fetched_by)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if state:
        qs = qs.filter(state=state)
    if environment_name:
        qs = qs.filter(environment__name=environment_name)
    if name_contains:
        qs = qs.filter(name__icontains=name_contains)
    return qs.order_by(*VM_SORTS.get(sort, VM_SORTS[DEFAULT_VM_SORT]))


def vm_pending_approval_list(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    return vm_list(fetched_by=fetched_by).filter(state=VMState.PENDING_APPROVAL)


def operation_active(*, vm: VirtualMachine) -> Operation | None:
    return (
        vm.operations.filter(status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
        .prefetch_related("steps")
        .first()
    )


def host_list(*, fetched_by: User) -> QuerySet[Host]:
    if fetched_by.is_platform_admin:
        return Host.objects.all()
    return Host.objects.none()


def flavor_list(*, fetched_by: User) -> QuerySet[Flavor]:
    if fetched_by.is_platform_admin:
        return Flavor.objects.all()
    return Flavor.objects.filter(is_public=True)


def image_list(*, fetched_by: User) -> QuerySet[Image]:
    if fetched_by.is_platform_admin:
        return Image.objects.all()
    return Image.objects.filter(is_public=True)


@dataclass(frozen=True)
class HostCapacity:
    """One host as the capacity page shows it: physical size, what is allocated, status."""

    host: Host
    vms: int
    running: int
    vcpus_allocated: int
    ram_allocated_mib: int

    @property
    def status(self) -> str:
        if self.host.down_since:
            return "down"
        if not self.host.enabled:
            return "disabled"
        if self.host.maintenance:
            return "ready for maintenance" if self.vms == 0 else "entering maintenance"
        return "up" if self.host.reachable else "unreachable"

    @property
    def ram_percent(self) -> int:
        total = self.host.memory_mib
        return min(100, round(100 * self.ram_allocated_mib / total)) if total else 0

    @property
    def vcpu_percent(self) -> int:
        total = self.host.cpus
        return min(100, round(100 * self.vcpus_allocated / total)) if total else 0


def host_capacity_list(*, fetched_by: User) -> list[HostCapacity]:
    """Every host the user may see with its allocation, in one grouped query."""
    hosts = list(host_list(fetched_by=fetched_by).order_by("name"))
    rows = {
        row["host_id"]: row
        for row in VirtualMachine.objects.filter(host__in=hosts, state__in=PLACED_STATES)
        .values("host_id")
        .annotate(
            n=Count("id"),
            running=Count("id", filter=Q(state=VMState.RUNNING)),
            vcpus=Sum("flavor__vcpus"),
            ram=Sum("flavor__ram_mib"),
        )
    }
    empty = {"n": 0, "running": 0, "vcpus": 0, "ram": 0}
    return [
        HostCapacity(
            host=host,
            vms=rows.get(host.pk, empty)["n"],
            running=rows.get(host.pk, empty)["running"],
            vcpus_allocated=rows.get(host.pk, empty)["vcpus"] or 0,
            ram_allocated_mib=rows.get(host.pk, empty)["ram"] or 0,
        )
        for host in hosts
    ]


def rolling_maintenance_list(*, fetched_by: User) -> QuerySet[RollingMaintenance]:
    if fetched_by.is_platform_admin:
        return RollingMaintenance.objects.all()
    return RollingMaintenance.objects.none()
