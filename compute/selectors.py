"""Reads of VMs, hosts, flavors and images, scoped to what the requesting user may see."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from compute.choices import OperationStatus, VMState
from compute.models import Flavor, Host, Image, Operation, VirtualMachine
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
