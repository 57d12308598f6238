"""Every write to VMs, hosts, flavors and images; the provisioning steps the worker runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import (
    OPERATION_FOR_STATE,
    OPERATION_STEPS,
    PLACED_STATES,
    RUNTIME_AFTER,
    TRANSITIONAL_STATES,
    TRANSITIONS,
    USER_ACTIONS,
    OperationKind,
    OperationStatus,
    RuntimeState,
    Step,
    StepStatus,
    Transition,
    VMState,
)
from compute.models import Flavor, Host, Image, Operation, OperationStep, VirtualMachine
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import Environment, User
from portal.permissions import Perm, has_perm, require_perm, require_platform_admin
from quotas.services import quota_charge, quota_release, quota_reserve

logger = logging.getLogger(__name__)


# --- the state machine ---------------------------------------------------------------------


def _transition(vm: VirtualMachine, transition: str, **fields: Any) -> None:
    """Move the VM along a declared transition with a conditional UPDATE.

    Two concurrent callers cannot both win: the row only changes if it is still in a source
    state, and the loser gets a ConflictError naming the state it found.
    """
    sources, target = TRANSITIONS[transition]
    now = timezone.now()
    updated = VirtualMachine.objects.filter(pk=vm.pk, state__in=sources).update(
        state=target, state_changed_at=now, **fields
    )
    if updated != 1:
        current = VirtualMachine.objects.filter(pk=vm.pk).values_list("state", flat=True).first()
        label = VMState(current).label if current else _("gone")
        raise ConflictError(
            _("Cannot %(action)s a VM that is %(state)s.")
            % {"action": Transition(transition).label.lower(), "state": str(label).lower()},
            state=current,
        )
    vm.state = target
    vm.state_changed_at = now
    for name, value in fields.items():
        setattr(vm, name, value)


def _dispatch(operation_id: int) -> None:
    from compute.tasks import operation_advance  # tasks import services, not the other way

    transaction.on_commit(lambda: operation_advance.delay(operation_id))


def _operation_begin(vm: VirtualMachine, *, requested_by: User | None) -> Operation:
    kind, _end = OPERATION_FOR_STATE[vm.state]
    op = Operation.objects.create(vm=vm, kind=kind, requested_by=requested_by)
    OperationStep.objects.bulk_create(
        OperationStep(operation=op, position=i, name=name)
        for i, name in enumerate(OPERATION_STEPS[kind])
    )
    _dispatch(op.id)
    return op


# --- requests and approvals ----------------------------------------------------------------


def _host_can_ever_fit(flavor: Flavor) -> bool:
    return Host.objects.filter(
        enabled=True, cpus__gte=flavor.vcpus, memory_mib__gte=flavor.ram_mib
    ).exists()


@transaction.atomic
def vm_request_create(
    *,
    requested_by: User,
    environment: Environment,
    flavor: Flavor,
    image: Image,
    name: str,
    ssh_public_key: str = "",
    remote_addr: str | None = None,
) -> VirtualMachine:
    tenant = environment.tenant
    require_perm(requested_by, tenant, Perm.VM_REQUEST)
    errors: dict[str, str] = {}
    if not (flavor.is_public or requested_by.is_platform_admin):
        errors["flavor"] = _("Unknown flavor.")
    elif not _host_can_ever_fit(flavor):
        errors["flavor"] = _("No host can fit this flavor (%(vcpus)s vCPU, %(ram)s MiB RAM).") % {
            "vcpus": flavor.vcpus,
            "ram": flavor.ram_mib,
        }
    if not (image.is_public or requested_by.is_platform_admin):
        errors["image"] = _("Unknown image.")
    vm = VirtualMachine(
        tenant=tenant,
        environment=environment,
        owner=requested_by,
        name=name,
        flavor=flavor,
        image=image,
        ssh_public_key=ssh_public_key.strip(),
    )
    try:
        vm.clean_fields(exclude=["tenant", "environment", "owner", "flavor", "image"])
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
    if (
        "name" not in errors
        and VirtualMachine.objects.filter(tenant=tenant, name=name)
        .exclude(state=VMState.DELETED)
        .exists()
    ):
        errors["name"] = _("A VM named '%(name)s' already exists in this tenant.") % {"name": name}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            vm.save()
    except IntegrityError as exc:  # a concurrent request took the name between check and insert
        raise ValidationError(
            {"name": _("A VM named '%(name)s' already exists in this tenant.") % {"name": name}}
        ) from exc
    audit_record(
        actor=requested_by,
        action="vm.request",
        obj=vm,
        tenant=tenant,
        remote_addr=remote_addr,
        changes={"environment": environment.name, "flavor": flavor.name, "image": image.name},
    )
    if not environment.requires_approval:
        _transition(vm, Transition.APPROVE)
        audit_record(
            actor=None,
            action="vm.auto_approve",
            obj=vm,
            tenant=tenant,
            changes={"environment": environment.name},
        )
        _operation_begin(vm, requested_by=requested_by)
    # Last, so that the quota row's lock is held for the shortest time before the commit.
    quota_reserve(vm=vm)
    return vm


@transaction.atomic
def vm_approve(
    *, vm: VirtualMachine, approved_by: User, remote_addr: str | None = None
) -> Operation:
    require_perm(approved_by, vm.tenant, Perm.VM_APPROVE)
    if vm.owner_id == approved_by.id:
        raise ValidationError({"approved_by": _("Nobody may approve their own request.")})
    _transition(vm, Transition.APPROVE, approved_by=approved_by)
    audit_record(
        actor=approved_by, action="vm.approve", obj=vm, tenant=vm.tenant, remote_addr=remote_addr
    )
    return _operation_begin(vm, requested_by=approved_by)


@transaction.atomic
def vm_reject(
    *, vm: VirtualMachine, rejected_by: User, reason: str, remote_addr: str | None = None
) -> VirtualMachine:
    require_perm(rejected_by, vm.tenant, Perm.VM_APPROVE)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the requester a reason for the rejection.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    _transition(vm, Transition.REJECT, rejection_reason=reason, approved_by=rejected_by)
    quota_release(vm=vm)
    audit_record(
        actor=rejected_by,
        action="vm.reject",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"reason": reason},
    )
    return vm


def can_operate(user: User, vm: VirtualMachine) -> bool:
    if has_perm(user, vm.tenant, Perm.VM_OPERATE_ANY):
        return True
    return vm.owner_id == user.id and has_perm(user, vm.tenant, Perm.VM_OPERATE_OWN)


@transaction.atomic
def vm_action(
    *, vm: VirtualMachine, action: str, requested_by: User, remote_addr: str | None = None
) -> Operation | None:
    """Start, stop, reboot or delete a VM. Returns the operation the worker will run."""
    if action not in USER_ACTIONS:
        raise ValidationError({"action": _("Unknown action.")})
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    if action == "delete" and vm.state in (VMState.PENDING_APPROVAL, VMState.REJECTED):
        # Nothing exists on a host yet: withdrawing the request is immediate.
        _transition(vm, Transition.DELETE)
        _transition(vm, Transition.DELETED, deleted_at=timezone.now())
        quota_release(vm=vm)
        audit_record(
            actor=requested_by,
            action="vm.delete",
            obj=vm,
            tenant=vm.tenant,
            remote_addr=remote_addr,
        )
        return None
    _transition(vm, USER_ACTIONS[action], error_message="")
    audit_record(
        actor=requested_by, action=f"vm.{action}", obj=vm, tenant=vm.tenant, remote_addr=remote_addr
    )
    return _operation_begin(vm, requested_by=requested_by)


# --- the worker's side: running an operation step by step ----------------------------------


def _placement_choose(vm: VirtualMachine) -> Host:
    """The enabled, reachable host with the most free memory that fits the flavor.

    Host rows are locked in primary-key order so that concurrent placements see each other's
    claims; the claim itself is the VM's host column, written in the same transaction.
    """
    hosts = list(Host.objects.select_for_update().filter(enabled=True).order_by("pk"))
    used: dict[int, int] = {
        row["host_id"]: row["ram"] or 0
        for row in VirtualMachine.objects.filter(host__in=hosts, state__in=PLACED_STATES)
        .values("host_id")
        .annotate(ram=Sum("flavor__ram_mib"), n=Count("id"))
    }
    best: Host | None = None
    best_free = -1
    for host in hosts:
        free = host.memory_mib - used.get(host.id, 0)
        if host.reachable and vm.flavor.vcpus <= host.cpus and free >= vm.flavor.ram_mib:
            if free > best_free:
                best, best_free = host, free
    if best is None:
        raise hypervisor.HypervisorError(
            _("No enabled host has %(ram)s MiB of memory and %(vcpus)s vCPU free right now.")
            % {"ram": vm.flavor.ram_mib, "vcpus": vm.flavor.vcpus}
        )
    return best


def _domain_spec(vm: VirtualMachine, disk_path: str) -> hypervisor.DomainSpec:
    host = vm.host
    assert host is not None
    log_dir = settings.NUAGE["SERIAL_LOG_DIR"]
    return hypervisor.DomainSpec(
        name=vm.domain_name,
        uuid=str(vm.uuid),
        title=f"{vm.tenant.slug}/{vm.name}",
        vcpus=vm.flavor.vcpus,
        memory_mib=vm.flavor.ram_mib,
        disk_path=disk_path,
        domain_type=host.domain_type,
        kernel=vm.image.kernel_path if vm.image.kind == "kernel" else "",
        initrd=vm.image.initrd_path if vm.image.kind == "kernel" else "",
        cmdline=vm.image.cmdline if vm.image.kind == "kernel" else "",
        serial_log=f"{log_dir}/{vm.domain_name}-serial.log",
        tenant=vm.tenant.slug,
    )


def _ensure_disk(vm: VirtualMachine) -> str:
    assert vm.host is not None
    return hypervisor.ensure_volume(
        vm.host.uri,
        pool=vm.host.storage_pool,
        name=vm.volume_name,
        capacity_gib=vm.flavor.disk_gib,
        backing_volume=vm.image.base_volume if vm.image.kind == "disk" else None,
    )


def _step_scheduled(vm: VirtualMachine) -> str:
    if vm.host is None:
        vm.host = _placement_choose(vm)
        VirtualMachine.objects.filter(pk=vm.pk).update(host=vm.host)
    return _("Placed on host %(host)s.") % {"host": vm.host.name}


def _step_creating_disk(vm: VirtualMachine) -> str:
    return _("Disk %(path)s ready.") % {"path": _ensure_disk(vm)}


def _step_defining(vm: VirtualMachine) -> str:
    assert vm.host is not None
    # The disk path is looked up again (cheap and idempotent) rather than stored.
    spec = _domain_spec(vm, _ensure_disk(vm))
    created = hypervisor.ensure_domain_defined(vm.host.uri, spec)
    return _("Domain defined.") if created else _("Existing domain adopted.")


def _step_starting(vm: VirtualMachine) -> str:
    assert vm.host is not None
    hypervisor.ensure_domain_running(vm.host.uri, str(vm.uuid))
    return _("Domain running.")


def _step_stopping(vm: VirtualMachine) -> str:
    assert vm.host is not None
    graceful = hypervisor.ensure_domain_stopped(
        vm.host.uri, str(vm.uuid), grace_seconds=float(settings.NUAGE.get("STOP_GRACE_SECONDS", 60))
    )
    return _("Guest shut down.") if graceful else _("Guest did not shut down in time; powered off.")


def _step_rebooting(vm: VirtualMachine) -> str:
    assert vm.host is not None
    hypervisor.reboot_domain(vm.host.uri, str(vm.uuid))
    return _("Reboot requested.")


def _step_removing_domain(vm: VirtualMachine) -> str:
    if vm.host is None:
        return _("Nothing to remove.")
    removed = hypervisor.remove_domain(vm.host.uri, str(vm.uuid))
    return _("Domain removed.") if removed else _("No domain to remove.")


def _step_removing_disk(vm: VirtualMachine) -> str:
    if vm.host is None:
        return _("Nothing to remove.")
    removed = hypervisor.remove_volume(vm.host.uri, pool=vm.host.storage_pool, name=vm.volume_name)
    return _("Disk removed.") if removed else _("No disk to remove.")


STEP_RUNNERS: dict[str, Callable[[VirtualMachine], str]] = {
    Step.SCHEDULED: _step_scheduled,
    Step.CREATING_DISK: _step_creating_disk,
    Step.DEFINING: _step_defining,
    Step.STARTING: _step_starting,
    Step.STOPPING: _step_stopping,
    Step.REBOOTING: _step_rebooting,
    Step.REMOVING_DOMAIN: _step_removing_domain,
    Step.REMOVING_DISK: _step_removing_disk,
}


def _load_operation_for_update(operation_id: int) -> Operation:
    return (
        Operation.objects.select_for_update(of=("self",))
        .select_related("vm__tenant", "vm__flavor", "vm__image", "vm__host")
        .get(pk=operation_id)
    )


def operation_advance(*, operation_id: int) -> bool:
    """Run the operation's next step. True if more steps remain (the caller dispatches them).

    Safe to call twice for the same step (a redelivered message, or the reconciler's re-dispatch
    racing a slow worker): the step runs under the operation's row lock and is skipped when done.
    """
    with transaction.atomic():
        op = _load_operation_for_update(operation_id)
        if op.status not in (OperationStatus.PENDING, OperationStatus.RUNNING):
            return False
        step = op.steps.exclude(status=StepStatus.DONE).order_by("position").first()
        if step is None:
            _operation_succeed(op)
            return False
        now = timezone.now()
        if step.status != StepStatus.RUNNING:
            step.status, step.started_at = StepStatus.RUNNING, now
            step.save(update_fields=["status", "started_at"])
        op.status, op.progressed_at = OperationStatus.RUNNING, now
        op.save(update_fields=["status", "progressed_at"])
    # The step shows as running to the user while the worker does the work.
    delay = float(settings.NUAGE["STEP_DELAY_SECONDS"])
    if delay:
        time.sleep(delay)
    with transaction.atomic():
        op = _load_operation_for_update(operation_id)
        step = op.steps.get(pk=step.pk)
        if op.status != OperationStatus.RUNNING or step.status == StepStatus.DONE:
            return op.status == OperationStatus.RUNNING
        try:
            detail = STEP_RUNNERS[step.name](op.vm)
        except hypervisor.HypervisorError as exc:
            failure = str(exc)
        else:
            now = timezone.now()
            step.status, step.detail, step.finished_at = StepStatus.DONE, detail, now
            step.save(update_fields=["status", "detail", "finished_at"])
            op.progressed_at = now
            op.save(update_fields=["progressed_at"])
            return True
    operation_fail(operation_id=operation_id, reason=failure, failed_step_id=step.pk)
    return False


def _operation_succeed(op: Operation) -> None:
    vm = op.vm
    _kind, end = OPERATION_FOR_STATE[vm.state]
    fields: dict[str, Any] = {}
    if end == Transition.DELETED:
        fields["deleted_at"] = timezone.now()
    _transition(vm, end, **fields)
    if end == Transition.PROVISIONED:
        quota_charge(vm=vm)
    elif end == Transition.DELETED:
        quota_release(vm=vm)
    VirtualMachine.objects.filter(pk=vm.pk).update(
        runtime_state=RUNTIME_AFTER[end], runtime_checked_at=timezone.now()
    )
    op.status, op.finished_at = OperationStatus.SUCCEEDED, timezone.now()
    op.save(update_fields=["status", "finished_at"])
    audit_record(actor=None, action=f"vm.{op.kind}.succeeded", obj=vm, tenant=vm.tenant)


def operation_fail(*, operation_id: int, reason: str, failed_step_id: int | None = None) -> None:
    """Mark the operation failed and the VM in error, after undoing a half-done provisioning."""
    with transaction.atomic():
        op = _load_operation_for_update(operation_id)
        if op.status not in (OperationStatus.PENDING, OperationStatus.RUNNING):
            return
        vm = op.vm
        cleanup_note = ""
        if op.kind == OperationKind.PROVISION and vm.host is not None:
            cleanup_note = _undo_provisioning(vm)
        now = timezone.now()
        step_qs = (
            op.steps.filter(pk=failed_step_id)
            if failed_step_id
            else op.steps.filter(status=StepStatus.RUNNING)
        )
        step_qs.update(status=StepStatus.FAILED, detail=reason, finished_at=now)
        op.status, op.error_message, op.finished_at = OperationStatus.FAILED, reason, now
        op.save(update_fields=["status", "error_message", "finished_at"])
        message = reason + (f" {cleanup_note}" if cleanup_note else "")
        if vm.state in TRANSITIONAL_STATES:
            _transition(vm, Transition.FAIL, error_message=message)
        if op.kind == OperationKind.PROVISION:
            quota_release(vm=vm, reserved_only=True)
        audit_record(
            actor=None,
            action=f"vm.{op.kind}.failed",
            obj=vm,
            tenant=vm.tenant,
            changes={"reason": message},
        )


def _undo_provisioning(vm: VirtualMachine) -> str:
    """Remove what a failed provisioning left on the host and release the placement."""
    assert vm.host is not None
    try:
        hypervisor.remove_domain(vm.host.uri, str(vm.uuid))
        hypervisor.remove_volume(vm.host.uri, pool=vm.host.storage_pool, name=vm.volume_name)
    except hypervisor.HypervisorError as exc:
        # Keep the host so that deleting the VM retries the cleanup there.
        return _("Cleanup on the host failed too (%(error)s); delete the VM to retry.") % {
            "error": exc
        }
    VirtualMachine.objects.filter(pk=vm.pk).update(host=None)
    vm.host = None
    return ""


# --- hosts, flavors, images ----------------------------------------------------------------


def _refresh_capacity(host: Host) -> None:
    try:
        info = hypervisor.host_info(host.uri)
    except hypervisor.HypervisorError as exc:
        host.reachable, host.last_error = False, str(exc)
        return
    host.cpus, host.memory_mib = info.cpus, info.memory_mib
    host.reachable, host.last_error, host.last_seen_at = True, "", timezone.now()


@transaction.atomic
def host_register(
    *,
    registered_by: User,
    name: str,
    uri: str,
    storage_pool: str = "nuage",
    domain_type: str = "qemu",
    enabled: bool = True,
) -> Host:
    require_platform_admin(registered_by)
    host = Host(
        name=name, uri=uri, storage_pool=storage_pool, domain_type=domain_type, enabled=enabled
    )
    host.full_clean(exclude=["cpus", "memory_mib"])
    _refresh_capacity(host)
    if not host.reachable:
        raise ValidationError({"uri": host.last_error})
    host.save()
    audit_record(
        actor=registered_by,
        action="host.register",
        obj=host,
        changes={"uri": uri, "cpus": host.cpus, "memory_mib": host.memory_mib},
    )
    return host


@transaction.atomic
def host_update(*, updated_by: User, host: Host, **fields: Any) -> Host:
    require_platform_admin(updated_by)
    allowed = {"name", "enabled", "storage_pool", "domain_type"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    changes = {k: v for k, v in fields.items() if getattr(host, k) != v}
    for key, value in changes.items():
        setattr(host, key, value)
    host.full_clean()
    host.save()
    audit_record(actor=updated_by, action="host.update", obj=host, changes=changes)
    return host


@transaction.atomic
def host_refresh(*, host: Host) -> Host:
    """Re-read capacity and reachability from libvirt (periodic; no user involved)."""
    _refresh_capacity(host)
    host.save(update_fields=["cpus", "memory_mib", "reachable", "last_error", "last_seen_at"])
    return host


@transaction.atomic
def flavor_create(
    *, created_by: User, name: str, vcpus: int, ram_mib: int, disk_gib: int, is_public: bool = True
) -> Flavor:
    require_platform_admin(created_by)
    flavor = Flavor(name=name, vcpus=vcpus, ram_mib=ram_mib, disk_gib=disk_gib, is_public=is_public)
    flavor.full_clean()
    flavor.save()
    audit_record(
        actor=created_by,
        action="flavor.create",
        obj=flavor,
        changes={"vcpus": vcpus, "ram_mib": ram_mib, "disk_gib": disk_gib},
    )
    return flavor


@transaction.atomic
def image_create(
    *,
    created_by: User,
    name: str,
    kind: str,
    base_volume: str = "",
    kernel_path: str = "",
    initrd_path: str = "",
    cmdline: str = "console=ttyS0",
    is_public: bool = True,
) -> Image:
    require_platform_admin(created_by)
    image = Image(
        name=name,
        kind=kind,
        base_volume=base_volume,
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        cmdline=cmdline,
        is_public=is_public,
    )
    image.full_clean()
    if kind == "disk" and not base_volume:
        raise ValidationError({"base_volume": _("A disk image needs its base volume's name.")})
    if kind == "kernel" and not kernel_path:
        raise ValidationError({"kernel_path": _("A kernel image needs the kernel's path.")})
    image.save()
    audit_record(
        actor=created_by,
        action="image.create",
        obj=image,
        changes={"kind": kind, "base_volume": base_volume, "kernel_path": kernel_path},
    )
    return image


# --- reconciliation ------------------------------------------------------------------------


def reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Repair what a lost message or a crashed worker left behind, and read live state."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.NUAGE["STALE_SECONDS"])
    max_attempts = settings.NUAGE["MAX_ATTEMPTS"]
    counts = {"redispatched": 0, "failed": 0, "runtime_updated": 0, "orphaned_states": 0}

    stale = Operation.objects.filter(
        status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
        progressed_at__lt=stale_before,
    ).values_list("id", flat=True)
    for op_id in list(stale):
        with transaction.atomic():
            op = (
                Operation.objects.select_for_update(skip_locked=True)
                .filter(pk=op_id, progressed_at__lt=stale_before)
                .first()
            )
            if op is None:
                continue  # a worker holds it right now, or it moved on
            if op.attempts >= max_attempts:
                give_up = True
            else:
                give_up = False
                op.attempts += 1
                op.progressed_at = now
                op.save(update_fields=["attempts", "progressed_at"])
                _dispatch(op.id)
                counts["redispatched"] += 1
        if give_up:
            operation_fail(
                operation_id=op_id,
                reason=_("The operation made no progress after %(n)s attempts.")
                % {"n": max_attempts},
            )
            counts["failed"] += 1

    # A transitional VM must always have an active operation; one without is stuck for good.
    for vm in VirtualMachine.objects.filter(
        state__in=TRANSITIONAL_STATES, state_changed_at__lt=stale_before
    ).exclude(operations__status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]):
        with transaction.atomic():
            try:
                _transition(vm, Transition.FAIL, error_message=_("The operation was lost."))
            except ConflictError:
                continue
            quota_release(vm=vm, reserved_only=True)  # a provisioning that never ran
            counts["orphaned_states"] += 1

    for host in Host.objects.filter(enabled=True):
        try:
            states = hypervisor.domain_runtime_states(host.uri)
        except hypervisor.HypervisorError as exc:
            Host.objects.filter(pk=host.pk).update(reachable=False, last_error=str(exc))
            continue
        Host.objects.filter(pk=host.pk).update(reachable=True, last_error="", last_seen_at=now)
        for vm in (
            VirtualMachine.objects.filter(host=host)
            .exclude(state=VMState.DELETED)
            .only("id", "uuid", "runtime_state")
        ):
            live = states.get(str(vm.uuid), RuntimeState.NO_DOMAIN)
            if live != vm.runtime_state:
                VirtualMachine.objects.filter(pk=vm.pk).update(
                    runtime_state=live, runtime_checked_at=now
                )
                counts["runtime_updated"] += 1
    return counts
