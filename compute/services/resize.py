"""Resize: a stopped VM changes flavor; its disk grows (never shrinks), its domain is defined
again from the new flavor (vCPUs, memory, limits), its quota and host capacity move at once."""

from __future__ import annotations

import time
from dataclasses import replace

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from compute import hypervisor, scheduler
from compute.choices import OperationKind, RuntimeState, Transition, VMState, VolumeState
from compute.models import Flavor, Host, Operation, VirtualMachine, Volume
from compute.ports import quota_resize
from compute.selectors import can_operate
from compute.services._common import _operation_begin, _transition, require_not_container
from compute.services.migration import storage_shared, target_disk_prepare
from compute.services.placement import _host_states, _placement_choose
from compute.services.seed import seed_path
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import Perm, require_perm


def _host_fit_refusal(vm: VirtualMachine, host: Host, old: Flavor, new: Flavor) -> str | None:
    """Why the VM's host cannot take the new size in place of the old one (its row locked)."""
    (state,) = _host_states(Host.objects.select_for_update().filter(pk=host.pk))
    # Capacity only: the VM is already there (tags, anti-affinity and maintenance do not
    # apply to a VM that stays), and its old size is given back as the new one is taken.
    without = replace(
        state,
        enabled=True,
        up=True,
        tags=frozenset(),
        used_vcpus=state.used_vcpus - old.vcpus,
        used_ram_mib=state.used_ram_mib - old.ram_mib,
        used_disk_gib=state.used_disk_gib - old.disk_gib,
    )
    request = scheduler.PlacementRequest(
        vcpus=new.vcpus, ram_mib=new.ram_mib, disk_gib=new.disk_gib, environment=""
    )
    reason = scheduler.reject_reason(without, request)
    return None if reason is None else scheduler.describe_refusal(host.name, reason)


def _volumes_keep_it_here(vm: VirtualMachine, refusal: str) -> None:
    """A VM with data volumes does not move for a resize: they live in its host's pool."""
    if Volume.objects.unscoped().filter(vm_id=vm.pk).exclude(state=VolumeState.DELETED).exists():
        raise ConflictError(
            _(
                "The VM's host cannot take the new size (%(reason)s), and its data volumes "
                "keep it there: detach them to let it move."
            )
            % {"reason": refusal},
            state=vm.state,
        )


def _move_target(vm: VirtualMachine, old: Flavor, new: Flavor, refusal: str) -> Host:
    """The host a stopped VM moves to when its own cannot take the new size: placement's
    choice for the new size among the others (their rows locked; the operation's target_host
    is the claim)."""
    vm.flavor = new  # what placement makes room for (the transition writes it)
    try:
        return _placement_choose(vm, exclude=vm.host)
    except hypervisor.HypervisorError as exc:
        vm.flavor = old
        raise ConflictError(
            _("The VM's host cannot take the new size (%(reason)s), nor can another: %(why)s")
            % {"reason": refusal, "why": exc},
            state=vm.state,
        ) from exc


@transaction.atomic
def vm_resize(
    *,
    vm: VirtualMachine,
    flavor: Flavor,
    requested_by: User,
    remote_addr: str | None = None,
) -> Operation | None:
    """Give a stopped VM another flavor. Returns the operation the worker runs (None: the
    resize waits for an approver).

    In one transaction: the VM row locked, the new flavor checked (visible, not the same, no
    smaller disk), the host's capacity checked under its row lock and claimed by the VM's new
    flavor (placement sums the flavors of the VMs placed on a host), the quota's difference
    taken with one conditional UPDATE (compute.ports.quota_resize), and the operation begun.
    Any refusal writes nothing.
    """
    require_not_container(vm)
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("flavor", "host", "tenant", "environment")
        .get(pk=vm.pk)
    )
    old = vm.flavor
    if not (flavor.is_public or requested_by.is_platform_admin):
        raise ValidationError({"flavor": _("Unknown flavor.")})
    if flavor.pk == old.pk:
        raise ValidationError({"flavor": _("The VM already has this flavor.")})
    if flavor.disk_gib < old.disk_gib:
        raise ValidationError(
            {
                "flavor": _(
                    "A disk grows, it never shrinks: %(flavor)s has %(new)s GiB, the VM's disk "
                    "is %(old)s GiB."
                )
                % {"flavor": flavor.name, "new": flavor.disk_gib, "old": old.disk_gib}
            }
        )
    if vm.state != VMState.STOPPED or vm.host is None:
        raise ConflictError(
            _("Stop the VM before resizing it; it is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    source = vm.host
    target = None
    refusal = _host_fit_refusal(vm, source, old, flavor)
    if refusal:
        _volumes_keep_it_here(vm, refusal)
    if refusal and vm.environment.needs_approval(vcpus=flavor.vcpus, ram_mib=flavor.ram_mib):
        # Moving to another host for this size is for an approver to decide, as a request of
        # that size would be: the quota is taken now, the host chosen at the approval.
        _transition(vm, Transition.RESIZE_REQUEST, resize_to=flavor, error_message="")
        quota_resize(vm=vm, old=old, new=flavor)
        audit_record(
            actor=requested_by,
            action="vm.resize_request",
            obj=vm,
            tenant=vm.tenant,
            changes={"flavor": [old.name, flavor.name], "host": refusal},
            remote_addr=remote_addr,
        )
        return None
    if refusal:
        target = _move_target(vm, old, flavor, refusal)
    _transition(vm, Transition.RESIZE, flavor=flavor, error_message="")
    quota_resize(vm=vm, old=old, new=flavor)
    if target is None:
        op = _operation_begin(vm, requested_by=requested_by, flavor_before=old)
    else:
        op = _operation_begin(
            vm,
            requested_by=requested_by,
            kind=OperationKind.RESIZE_MOVE,
            flavor_before=old,
            source_host=source,
            target_host=target,
        )
    audit_record(
        actor=requested_by,
        action="vm.resize",
        obj=vm,
        tenant=vm.tenant,
        changes={
            "flavor": [old.name, flavor.name],
            "vcpus": [old.vcpus, flavor.vcpus],
            "ram_mib": [old.ram_mib, flavor.ram_mib],
            "disk_gib": [old.disk_gib, flavor.disk_gib],
        },
        remote_addr=remote_addr,
    )
    return op


def _step_growing_disk(vm: VirtualMachine) -> str:
    host = vm.host
    assert host is not None
    hypervisor.grow_volume(
        host.uri, pool=host.storage_pool, name=vm.volume_name, capacity_gib=vm.flavor.disk_gib
    )
    gib = hypervisor.volume_capacity_gib(host.uri, pool=host.storage_pool, name=vm.volume_name)
    return _("Disk is %(gib)s GiB.") % {"gib": gib}


def _step_redefining(vm: VirtualMachine) -> str:
    from compute.services.steps import _domain_spec  # steps imports this module

    host = vm.host
    assert host is not None
    disk = hypervisor.volume_path(host.uri, pool=host.storage_pool, name=vm.volume_name)
    if disk is None:
        raise hypervisor.HypervisorError(_("The VM's disk is missing from its host."))
    changed = hypervisor.redefine_domain(
        host.uri, _domain_spec(vm, disk, seed_path(vm=vm, host=host))
    )
    flavor = vm.flavor
    return (
        _("Domain defined with %(vcpus)s vCPU and %(ram)s MiB.")
        if changed
        else _("Domain already has %(vcpus)s vCPU and %(ram)s MiB.")
    ) % {"vcpus": flavor.vcpus, "ram": flavor.ram_mib}


def _undo_resize(op: Operation, message: str) -> None:
    """A failed resize goes back to the old flavor, quota and host claim included (in the
    failure's transaction). A disk already grown keeps its size: a disk never shrinks."""
    vm, before = op.vm, op.flavor_before
    if before is None or vm.state != VMState.RESIZING:
        return
    new = vm.flavor
    _transition(vm, Transition.RESIZE_ABORTED, flavor=before, error_message=message)
    quota_resize(vm=vm, old=new, new=before, check=False)


def _step_preparing_move(op: Operation) -> str:
    """An empty volume of the disk's current size on the target (the copy goes into it; it
    grows afterwards), and the seed built there again (only writable disks are copied)."""
    target, vm, before = op.target_host, op.vm, op.flavor_before
    assert target is not None and before is not None
    if storage_shared(op.source_host, target):
        return _("Disks already reachable from %(host)s (shared storage).") % {"host": target.name}
    if hypervisor.domain_runtime_state(target.uri, str(vm.uuid)) == RuntimeState.NO_DOMAIN:
        target_disk_prepare(op, capacity_gib=before.disk_gib)
    return _("Disk ready on %(host)s.") % {"host": target.name}


def _step_moving(op: Operation) -> str:
    source, target, vm = op.source_host, op.target_host, op.vm
    assert source is not None and target is not None
    started = time.monotonic()
    moved = hypervisor.cold_move_domain(
        source.uri,
        target.uri,
        target_peer_uri=target.migration_uri,
        uuid=str(vm.uuid),
        copy_storage=not storage_shared(source, target),
    )
    if not moved:
        return _("Already on %(host)s.") % {"host": target.name}
    return _("Disk copied to %(host)s in %(seconds).1f s.") % {
        "host": target.name,
        "seconds": time.monotonic() - started,
    }


def _resize_decision_checks(vm: VirtualMachine, user: User) -> None:
    require_perm(user, vm.tenant, Perm.VM_APPROVE)
    if vm.owner_id == user.id:
        raise ValidationError({"approved_by": _("Nobody may approve their own request.")})


@transaction.atomic
def vm_resize_approve(
    *, vm: VirtualMachine, approved_by: User, remote_addr: str | None = None
) -> Operation:
    """Approve a resize waiting for it: in place if the host has room by now, else on the
    host placement chooses (the stopped VM moves there first)."""
    _resize_decision_checks(vm, approved_by)
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("flavor", "resize_to", "host", "tenant", "environment")
        .get(pk=vm.pk)
    )
    new, old, source = vm.resize_to, vm.flavor, vm.host
    if vm.state != VMState.RESIZE_PENDING or new is None or source is None:
        raise ConflictError(
            _("No resize of this VM waits for approval; it is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    target = None
    refusal = _host_fit_refusal(vm, source, old, new)
    if refusal:
        _volumes_keep_it_here(vm, refusal)
        target = _move_target(vm, old, new, refusal)
    _transition(vm, Transition.RESIZE_APPROVE, flavor=new, resize_to=None)
    audit_record(
        actor=approved_by,
        action="vm.resize_approve",
        obj=vm,
        tenant=vm.tenant,
        changes={"flavor": [old.name, new.name]},
        remote_addr=remote_addr,
    )
    if target is None:
        return _operation_begin(vm, requested_by=approved_by, flavor_before=old)
    return _operation_begin(
        vm,
        requested_by=approved_by,
        kind=OperationKind.RESIZE_MOVE,
        flavor_before=old,
        source_host=source,
        target_host=target,
    )


@transaction.atomic
def vm_resize_reject(
    *, vm: VirtualMachine, rejected_by: User, reason: str, remote_addr: str | None = None
) -> VirtualMachine:
    """Refuse a resize waiting for approval: the VM stays stopped at its flavor, its quota
    back to that size."""
    _resize_decision_checks(vm, rejected_by)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the requester a reason for the rejection.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("flavor", "resize_to", "tenant")
        .get(pk=vm.pk)
    )
    new, old = vm.resize_to, vm.flavor
    message = _("The resize to %(flavor)s was rejected by %(user)s: %(reason)s") % {
        "flavor": new.name if new else "?",
        "user": rejected_by.username,
        "reason": reason,
    }
    _transition(vm, Transition.RESIZE_REJECT, resize_to=None, error_message=message)
    if new is not None:
        quota_resize(vm=vm, old=new, new=old, check=False)
    audit_record(
        actor=rejected_by,
        action="vm.resize_reject",
        obj=vm,
        tenant=vm.tenant,
        changes={"reason": reason},
        remote_addr=remote_addr,
    )
    return vm


@transaction.atomic
def vm_resize_withdraw(
    *, vm: VirtualMachine, requested_by: User, remote_addr: str | None = None
) -> VirtualMachine:
    """Take back a resize waiting for approval (whoever may resize the VM: its owner, or
    anyone who operates the tenant's VMs): the VM stays stopped at its flavor, and the quota
    held for the new size is given back."""
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("flavor", "resize_to", "tenant")
        .get(pk=vm.pk)
    )
    new, old = vm.resize_to, vm.flavor
    if vm.state != VMState.RESIZE_PENDING or new is None:
        raise ConflictError(
            _("No resize of this VM waits for approval; it is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    _transition(vm, Transition.RESIZE_WITHDRAW, resize_to=None, error_message="")
    quota_resize(vm=vm, old=new, new=old, check=False)
    audit_record(
        actor=requested_by,
        action="vm.resize_withdraw",
        obj=vm,
        tenant=vm.tenant,
        changes={"flavor": [old.name, new.name]},
        remote_addr=remote_addr,
    )
    return vm
