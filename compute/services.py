"""Every write to VMs, hosts, flavors and images; the provisioning steps the worker runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.ledger import usage_record_transition
from billing.services import budget_refusal
from compute import hypervisor, scheduler
from compute.choices import (
    LIVE_STATES,
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
from compute.ipam import nics_release, vm_network_attach
from compute.models import (
    Flavor,
    Host,
    Image,
    Network,
    Operation,
    OperationStep,
    RollingMaintenance,
    VirtualMachine,
)
from compute.scheduler import HostState, PlacementRequest
from portal.audit import audit_record, changed_fields, created_fields, snapshot
from portal.errors import ConflictError
from portal.models import Environment, KeyPair, User
from portal.notifications import emit
from portal.permissions import (
    ROLE_PERMS,
    Perm,
    has_perm,
    require_perm,
    require_platform_admin,
    tenant_role,
)
from portal.services import keypair_authorized_keys
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
    # Usage starts or stops in this same transaction, at this same instant.
    usage_record_transition(vm=vm, transition=transition, previous_state=vm.state, at=now)
    vm.state = target
    vm.state_changed_at = now
    for name, value in fields.items():
        setattr(vm, name, value)


def _dispatch(operation_id: int) -> None:
    from compute.tasks import operation_advance  # tasks import services, not the other way

    transaction.on_commit(lambda: operation_advance.delay(operation_id))


def _operation_begin(vm: VirtualMachine, *, requested_by: User | None, **fields: Any) -> Operation:
    kind, _end = OPERATION_FOR_STATE[vm.state]
    op = Operation.objects.create(vm=vm, kind=kind, requested_by=requested_by, **fields)
    OperationStep.objects.bulk_create(
        OperationStep(operation=op, position=i, name=name)
        for i, name in enumerate(OPERATION_STEPS[kind])
    )
    _dispatch(op.id)
    return op


# --- requests and approvals ----------------------------------------------------------------


def _approval_policy(environment: Environment) -> str:
    if not environment.requires_approval:
        return "auto"
    return "auto below size"


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
    anti_affinity_group: str = "",
    key_pairs: list[KeyPair] | None = None,
    network: Network | None = None,
    remote_addr: str | None = None,
) -> VirtualMachine:
    tenant = environment.tenant
    require_perm(requested_by, tenant, Perm.VM_REQUEST)
    errors: dict[str, str] = {}
    authorized_keys: list[str] = []
    try:
        authorized_keys = keypair_authorized_keys(
            owner=requested_by, key_pairs=list(key_pairs or []), pasted=ssh_public_key
        )
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
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
        authorized_keys=authorized_keys,
        anti_affinity_group=anti_affinity_group.strip(),
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
    over_budget = budget_refusal(tenant=tenant)
    if over_budget:
        errors["budget"] = over_budget
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
    if not environment.needs_approval(vcpus=flavor.vcpus, ram_mib=flavor.ram_mib):
        _transition(vm, Transition.APPROVE)
        audit_record(
            actor=None,
            action="vm.auto_approve",
            obj=vm,
            tenant=tenant,
            changes={"environment": environment.name, "policy": _approval_policy(environment)},
        )
        _operation_begin(vm, requested_by=requested_by)
    else:
        emit("vm.pending_approval", vm=vm)
    # Its address (or forwarded port): a full pool refuses the request, nothing kept.
    vm_network_attach(vm=vm, network=network)
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
    emit("vm.approved", vm=vm)
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
    emit("vm.rejected", vm=vm)
    quota_release(vm=vm)
    nics_release(vm=vm)
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
        nics_release(vm=vm)
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


@transaction.atomic
def vm_migrate(
    *,
    vm: VirtualMachine,
    requested_by: User | None,
    target: Host | None = None,
    remote_addr: str | None = None,
) -> Operation:
    """Live-migrate a running VM to `target`, or to the best other host when none is given.

    The target's capacity is claimed now (the operation's target_host counts in placement), so
    concurrent placements and migrations cannot overcommit it. `requested_by` None is Nuage
    itself (maintenance evacuation).
    """
    if requested_by is not None:
        require_platform_admin(requested_by)
    vm = VirtualMachine.objects.select_related("host", "flavor", "tenant").get(pk=vm.pk)
    source = vm.host
    if vm.state != VMState.RUNNING or source is None:
        raise ConflictError(
            _("Only a running VM can be live-migrated; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    if target is None:
        try:
            target = _placement_choose(vm, exclude=source)
        except hypervisor.HypervisorError as exc:
            raise ValidationError({"host": str(exc)}) from exc
    else:
        if target.pk == source.pk:
            raise ValidationError(
                {"host": _("The VM already runs on %(host)s.") % {"host": target.name}}
            )
        refusal = _placement_refusal(vm, target)
        if refusal:
            raise ValidationError({"host": refusal})
    _transition(vm, Transition.MIGRATE, error_message="")
    op = _operation_begin(vm, requested_by=requested_by, source_host=source, target_host=target)
    audit_record(
        actor=requested_by,
        action="vm.migrate",
        obj=vm,
        tenant=vm.tenant,
        changes={"host": [source.name, target.name]},
        remote_addr=remote_addr,
    )
    return op


# --- the worker's side: running an operation step by step ----------------------------------


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
_ACTIVE = [OperationStatus.PENDING, OperationStatus.RUNNING]


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
        placement_claim(vm=vm)
    assert vm.host is not None
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


def _step_preparing_target(op: Operation) -> str:
    target, vm = op.target_host, op.vm
    assert target is not None
    if not hypervisor.domain_runtime_state(target.uri, str(vm.uuid)) == RuntimeState.RUNNING:
        # An empty volume of the same size: the migration copies the disk into it.
        hypervisor.ensure_volume(
            target.uri,
            pool=target.storage_pool,
            name=vm.volume_name,
            capacity_gib=vm.flavor.disk_gib,
            backing_volume=None,
        )
    return _("Disk ready on %(host)s.") % {"host": target.name}


def _step_migrating(op: Operation) -> str:
    source, target, vm = op.source_host, op.target_host, op.vm
    assert source is not None and target is not None
    started = time.monotonic()
    moved = hypervisor.migrate_domain(
        source.uri, target.uri, target_peer_uri=target.migration_uri, uuid=str(vm.uuid)
    )
    # From here the domain runs on the target: the VM row follows it in this transaction.
    VirtualMachine.objects.filter(pk=vm.pk).update(host=target)
    vm.host = target
    if not moved:
        return _("Already running on %(host)s.") % {"host": target.name}
    return _("Running on %(host)s after %(seconds).1f s.") % {
        "host": target.name,
        "seconds": time.monotonic() - started,
    }


def _step_cleaning_source(op: Operation) -> str:
    source, vm = op.source_host, op.vm
    assert source is not None
    # The source domain was undefined by the migration; a leftover definition would be a
    # second copy waiting to be started by mistake.
    hypervisor.remove_domain(source.uri, str(vm.uuid))
    removed = hypervisor.remove_volume(source.uri, pool=source.storage_pool, name=vm.volume_name)
    return _("Source disk removed.") if removed else _("No source disk to remove.")


OPERATION_STEP_RUNNERS: dict[str, Callable[[Operation], str]] = {
    Step.PREPARING_TARGET: _step_preparing_target,
    Step.MIGRATING: _step_migrating,
    Step.CLEANING_SOURCE: _step_cleaning_source,
}

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
        .select_related(
            "vm__tenant", "vm__flavor", "vm__image", "vm__host", "source_host", "target_host"
        )
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
            with_op = OPERATION_STEP_RUNNERS.get(step.name)
            detail = with_op(op) if with_op else STEP_RUNNERS[step.name](op.vm)
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
        nics_release(vm=vm)
    VirtualMachine.objects.filter(pk=vm.pk).update(
        runtime_state=RUNTIME_AFTER[end], runtime_checked_at=timezone.now()
    )
    op.status, op.finished_at = OperationStatus.SUCCEEDED, timezone.now()
    op.save(update_fields=["status", "finished_at"])
    if op.kind == OperationKind.PROVISION:
        emit("vm.running", vm=vm)
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
        if op.kind == OperationKind.MIGRATE:
            cleanup_note = _undo_migration(op)
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
        if op.kind == OperationKind.MIGRATE and vm.state == VMState.MIGRATING:
            # The guest kept running (on the source, or on the target if only the cleanup
            # failed): the VM is running, and the failed operation tells why it did not move.
            _transition(vm, Transition.MIGRATION_ABORTED)
        elif vm.state in TRANSITIONAL_STATES:
            _transition(vm, Transition.FAIL, error_message=message)
            emit("vm.error", vm=vm)
        if op.kind == OperationKind.PROVISION:
            quota_release(vm=vm, reserved_only=True)
            nics_release(vm=vm)
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


def _undo_migration(op: Operation) -> str:
    """Remove the target's copy of the disk when the domain did not move there."""
    target, vm = op.target_host, op.vm
    if target is None or vm.host_id == target.pk:
        return ""
    try:
        if hypervisor.domain_runtime_state(target.uri, str(vm.uuid)) == RuntimeState.NO_DOMAIN:
            hypervisor.remove_volume(target.uri, pool=target.storage_pool, name=vm.volume_name)
    except hypervisor.HypervisorError as exc:
        return _("Removing the disk copy on %(host)s failed too (%(error)s).") % {
            "host": target.name,
            "error": exc,
        }
    return ""


# --- hosts, flavors, images ----------------------------------------------------------------


def host_evacuate(*, host: Host) -> dict[str, int]:
    """Start a live migration for each running VM on a host in maintenance that has none yet.

    Each VM is migrated in its own transaction: one VM that finds no room elsewhere does not keep
    the others. Called when maintenance starts and again by the reconciler until the host is empty.
    """
    counts = {"started": 0, "no_room": 0}
    busy = Operation.objects.filter(status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
    running = VirtualMachine.objects.filter(host=host, state=VMState.RUNNING).exclude(
        pk__in=busy.values("vm_id")
    )
    for vm in running:
        try:
            vm_migrate(vm=vm, requested_by=None)
        except ValidationError:
            counts["no_room"] += 1
        except ConflictError:
            continue  # its state changed meanwhile (stopped, deleted, another operation)
        else:
            counts["started"] += 1
    return counts


def host_maintenance_status(host: Host) -> dict[str, int | bool]:
    """How far a host is from being empty: VMs still placed on it, by kind."""
    placed = VirtualMachine.objects.filter(host=host, state__in=PLACED_STATES)
    running = placed.filter(state__in=[VMState.RUNNING, VMState.MIGRATING]).count()
    total = placed.count()
    return {
        "maintenance": host.maintenance,
        "vms": total,
        "running_vms": running,
        "ready": host.maintenance and total == 0,
    }


def host_set_maintenance(
    *, host: Host, enabled: bool, requested_by: User, remote_addr: str | None = None
) -> dict[str, int]:
    """Enter maintenance (no new VMs; running VMs migrate away) or return to the pool."""
    require_platform_admin(requested_by)
    return _maintenance(host, enabled=enabled, actor=requested_by, remote_addr=remote_addr)


def _maintenance(
    host: Host, *, enabled: bool, actor: User | None, remote_addr: str | None = None
) -> dict[str, int]:
    with transaction.atomic():
        host = Host.objects.select_for_update().get(pk=host.pk)
        if host.maintenance != enabled:
            Host.objects.filter(pk=host.pk).update(maintenance=enabled)
            host.maintenance = enabled
            audit_record(
                actor=actor,
                action="host.maintenance.enter" if enabled else "host.maintenance.exit",
                obj=host,
                changes={"maintenance": [not enabled, enabled]},
                remote_addr=remote_addr,
            )
    return host_evacuate(host=host) if enabled else {"started": 0, "no_room": 0}


def rolling_maintenance_start(
    *, requested_by: User, hold_seconds: int | None = None, remote_addr: str | None = None
) -> RollingMaintenance:
    """Take every enabled host through maintenance, one at a time, as one action.

    The first host enters maintenance now; each time the current one is empty it stays in
    maintenance until an admin says its work is done (`rolling_maintenance_continue`), or for
    `hold_seconds` when given, then it returns to the pool and the next one goes.
    """
    require_platform_admin(requested_by)
    with transaction.atomic():
        if RollingMaintenance.objects.filter(status=RollingMaintenance.Status.RUNNING).exists():
            raise ConflictError(_("A rolling maintenance is already running."))
        hosts = list(
            Host.objects.filter(enabled=True, maintenance=False, down_since__isnull=True)
            .order_by("name")
            .values_list("pk", flat=True)
        )
        if len(hosts) < 2:
            raise ValidationError(
                _("A rolling maintenance needs two hosts up or more: the VMs need somewhere to go.")
            )
        run = RollingMaintenance.objects.create(
            requested_by=requested_by, host_ids=hosts, hold_seconds=hold_seconds
        )
        audit_record(
            actor=requested_by,
            action="host.rolling_maintenance.start",
            obj=run,
            changes={"hosts": hosts, "hold_seconds": hold_seconds},
            remote_addr=remote_addr,
        )
    _maintenance(Host.objects.get(pk=hosts[0]), enabled=True, actor=requested_by)
    return run


def rolling_maintenance_advance(*, now: datetime | None = None) -> RollingMaintenance | None:
    """Move the running rolling maintenance on when its current host is ready (reconciler)."""
    now = now or timezone.now()
    run = RollingMaintenance.objects.filter(status=RollingMaintenance.Status.RUNNING).first()
    if run is None:
        return None
    host = _rolling_host(run)
    if host is None or not host.maintenance:
        return _rolling_next(run)  # deleted, or taken out of maintenance by hand: skip it
    if not host_maintenance_status(host)["ready"]:
        return run
    if run.ready_at is None:
        RollingMaintenance.objects.filter(pk=run.pk).update(ready_at=now)
        run.ready_at = now
    if run.hold_seconds is not None and now >= run.ready_at + timedelta(seconds=run.hold_seconds):
        return _rolling_next(run)
    return run


def rolling_maintenance_continue(
    *, run: RollingMaintenance, requested_by: User, remote_addr: str | None = None
) -> RollingMaintenance:
    """The admin says the current host's work is done: it returns and the next one goes."""
    require_platform_admin(requested_by)
    run.refresh_from_db()
    if run.status != RollingMaintenance.Status.RUNNING:
        raise ConflictError(_("This rolling maintenance is over."))
    host = _rolling_host(run)
    if host is None:
        return _rolling_next(run, actor=requested_by)
    status = host_maintenance_status(host)
    if not status["ready"]:
        raise ConflictError(
            ngettext(
                "%(host)s still has %(n)s VM; it can go back once it is empty.",
                "%(host)s still has %(n)s VMs; it can go back once it is empty.",
                int(status["vms"]),
            )
            % {"host": host.name, "n": status["vms"]}
        )
    audit_record(
        actor=requested_by,
        action="host.rolling_maintenance.continue",
        obj=run,
        changes={"host": host.name},
        remote_addr=remote_addr,
    )
    return _rolling_next(run, actor=requested_by)


def rolling_maintenance_cancel(*, run: RollingMaintenance, requested_by: User) -> None:
    """Stop after the current host: it stays in maintenance until an admin returns it."""
    require_platform_admin(requested_by)
    with transaction.atomic():
        updated = RollingMaintenance.objects.filter(
            pk=run.pk, status=RollingMaintenance.Status.RUNNING
        ).update(status=RollingMaintenance.Status.CANCELLED, finished_at=timezone.now())
        if not updated:
            raise ConflictError(_("This rolling maintenance is over."))
        audit_record(actor=requested_by, action="host.rolling_maintenance.cancel", obj=run)


def _rolling_host(run: RollingMaintenance) -> Host | None:
    host_id = run.current_host_id
    return None if host_id is None else Host.objects.filter(pk=host_id).first()


def _rolling_next(run: RollingMaintenance, *, actor: User | None = None) -> RollingMaintenance:
    with transaction.atomic():
        run = RollingMaintenance.objects.select_for_update().get(pk=run.pk)
        if run.status != RollingMaintenance.Status.RUNNING:
            return run
        current = _rolling_host(run)
        if current is not None and current.maintenance:
            _maintenance(current, enabled=False, actor=actor)
        run.position += 1
        run.ready_at = None
        if run.current_host_id is None:
            run.status, run.finished_at = RollingMaintenance.Status.DONE, timezone.now()
        run.save(update_fields=["position", "ready_at", "status", "finished_at"])
    following = _rolling_host(run)
    if run.status == RollingMaintenance.Status.RUNNING and following is not None:
        _maintenance(following, enabled=True, actor=actor)
    return run


# --- high availability: heartbeats, hosts declared down, fencing when they come back ------


def heartbeat(*, now: datetime | None = None) -> dict[str, int]:
    """Ask every enabled host whether its libvirtd answers; act on hosts that go or come back.

    A host that misses NUAGE["HA_MISSES"] heartbeats in a row is declared down: its running VMs
    restart on another shared-storage host, or go to error with the reason. A down host that
    answers again is fenced before it rejoins: copies of VMs that now run elsewhere are
    destroyed, so that no guest ever runs twice.
    """
    now = now or timezone.now()
    misses_allowed = int(settings.NUAGE["HA_MISSES"])
    counts = {"up": 0, "missed": 0, "declared_down": 0, "rejoined": 0}
    for host in Host.objects.filter(enabled=True).order_by("pk"):
        try:
            hypervisor.host_alive(host.uri)
        except hypervisor.HypervisorError as exc:
            counts["missed"] += 1
            Host.objects.filter(pk=host.pk).update(
                missed_heartbeats=F("missed_heartbeats") + 1, reachable=False, last_error=str(exc)
            )
            host.refresh_from_db(fields=["missed_heartbeats", "down_since"])
            if host.down_since is None and host.missed_heartbeats >= misses_allowed:
                _host_declare_down(host, now=now, reason=str(exc))
                counts["declared_down"] += 1
            continue
        counts["up"] += 1
        if host.down_since is not None:
            _host_rejoin(host)
            counts["rejoined"] += 1
        Host.objects.filter(pk=host.pk).update(
            missed_heartbeats=0, reachable=True, last_error="", last_seen_at=now, down_since=None
        )
    return counts


def _ha_target(vm: VirtualMachine, down: Host) -> Host | None:
    if not down.shared_storage:
        return None
    try:
        return _placement_choose(vm, exclude=down, shared_pool=down.storage_pool)
    except hypervisor.HypervisorError:
        return None


def _host_declare_down(host: Host, *, now: datetime, reason: str) -> None:
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(down_since=now)
        host.down_since = now
        audit_record(
            actor=None,
            action="host.down",
            obj=host,
            changes={"missed_heartbeats": host.missed_heartbeats, "error": reason},
        )
    for vm in VirtualMachine.objects.filter(host=host, state__in=LIVE_STATES).select_related(
        "flavor", "tenant", "image"
    ):
        with transaction.atomic():
            _host_lost_vm(vm, host)


def _host_lost_vm(vm: VirtualMachine, down: Host) -> None:
    """One VM of a host declared down: restart it elsewhere if its disk is reachable, or error."""
    lost = _("Host %(host)s stopped answering.") % {"host": down.name}
    for op in Operation.objects.select_for_update().filter(
        vm=vm, status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
    ):
        op.status, op.error_message, op.finished_at = OperationStatus.FAILED, lost, timezone.now()
        op.save(update_fields=["status", "error_message", "finished_at"])
    target = _ha_target(vm, down)
    if target is None:
        why = (
            _("its disk is on the host's local storage")
            if not down.shared_storage
            else _("no other host with the shared storage has room")
        )
        message = _("%(lost)s The VM cannot be restarted elsewhere: %(why)s.") % {
            "lost": lost,
            "why": why,
        }
        _transition(vm, Transition.HOST_LOST, error_message=message)
        emit("vm.error", vm=vm)
        audit_record(
            actor=None, action="vm.host_lost", obj=vm, tenant=vm.tenant, changes={"reason": message}
        )
        return
    _transition(vm, Transition.HA_RESTART, host=target, error_message="")
    _operation_begin(vm, requested_by=None)
    audit_record(
        actor=None,
        action="vm.ha_restart",
        obj=vm,
        tenant=vm.tenant,
        changes={"host": [down.name, target.name]},
    )


def _host_rejoin(host: Host) -> None:
    """Fence a host that answers again, before it takes VMs: no guest may run twice."""
    states = hypervisor.domain_runtime_states(host.uri)
    vms = {str(vm.uuid): vm for vm in VirtualMachine.objects.filter(uuid__in=list(states))}
    lost_since = host.down_since
    for uuid, live in states.items():
        vm = vms.get(uuid)
        if vm is None:
            continue  # not Nuage's: the reconciler lists it as an orphan
        if vm.host_id != host.pk or vm.state == VMState.DELETED:
            # It was restarted elsewhere (or deleted) while this host was away; the disk is
            # shared or gone, so only the stale definition goes.
            hypervisor.remove_domain(host.uri, uuid)
            audit_record(actor=None, action="vm.fenced", obj=vm, tenant=vm.tenant)
        elif vm.state == VMState.ERROR and lost_since and vm.state_changed_at >= lost_since:
            # It went to error because this host was lost, and its domain is still here.
            with transaction.atomic():
                running = live == RuntimeState.RUNNING
                _transition(
                    vm,
                    Transition.HOST_BACK_RUNNING if running else Transition.HOST_BACK_STOPPED,
                    error_message="",
                    runtime_state=live,
                )
                audit_record(
                    actor=None,
                    action="vm.host_back",
                    obj=vm,
                    tenant=vm.tenant,
                    changes={"state": [VMState.ERROR, vm.state]},
                )
    audit_record(actor=None, action="host.up", obj=host)


def _refresh_capacity(host: Host) -> None:
    try:
        info = hypervisor.host_info(host.uri)
    except hypervisor.HypervisorError as exc:
        host.reachable, host.last_error = False, str(exc)
        return
    host.cpus, host.memory_mib = info.cpus, info.memory_mib
    host.reachable, host.last_error, host.last_seen_at = True, "", timezone.now()
    try:
        host.disk_gib = hypervisor.pool_capacity_gib(host.uri, host.storage_pool)
    except hypervisor.HostUnreachable as exc:
        host.reachable, host.last_error = False, str(exc)
    except hypervisor.HypervisorError as exc:
        # Up, but with no pool to put disks in: placement finds no disk room on it.
        host.disk_gib, host.last_error = 0, str(exc)


def _clean_tags(tags: object) -> object:
    """Lowercased, deduplicated and sorted; the model's validator judges the words."""
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        return tags
    return sorted({t.strip().lower() for t in tags if t.strip()})


HOST_SETTINGS = ("cpu_ratio", "ram_ratio", "disk_ratio", "tags")


@transaction.atomic
def host_register(
    *,
    registered_by: User,
    name: str,
    uri: str,
    storage_pool: str = "nuage",
    domain_type: str = "qemu",
    enabled: bool = True,
    peer_uri: str = "",
    cpu_ratio: Decimal | float | None = None,
    ram_ratio: Decimal | float | None = None,
    disk_ratio: Decimal | float | None = None,
    tags: list[str] | None = None,
    remote_addr: str | None = None,
) -> Host:
    require_platform_admin(registered_by)
    host = Host(
        name=name,
        uri=uri,
        peer_uri=peer_uri,
        storage_pool=storage_pool,
        domain_type=domain_type,
        enabled=enabled,
        cpu_ratio=cpu_ratio,
        ram_ratio=ram_ratio,
        disk_ratio=disk_ratio,
        tags=_clean_tags(tags or []),
    )
    host.full_clean(exclude=["cpus", "memory_mib", "disk_gib"])
    _refresh_capacity(host)
    if not host.reachable:
        raise ValidationError({"uri": host.last_error})
    if host.last_error:
        raise ValidationError({"storage_pool": host.last_error})
    host.save()
    audit_record(
        actor=registered_by,
        action="host.register",
        obj=host,
        changes={
            "uri": uri,
            "cpus": host.cpus,
            "memory_mib": host.memory_mib,
            "disk_gib": host.disk_gib,
            **{k: _audit_value(getattr(host, k)) for k in HOST_SETTINGS},
        },
        remote_addr=remote_addr,
    )
    return host


def _audit_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def host_update(
    *, updated_by: User, host: Host, remote_addr: str | None = None, **fields: Any
) -> Host:
    require_platform_admin(updated_by)
    allowed = {"name", "peer_uri", "enabled", "storage_pool", "domain_type", *HOST_SETTINGS}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    if "tags" in fields:
        fields["tags"] = _clean_tags(fields["tags"])
    before = snapshot(host, fields)
    changes = {k: v for k, v in fields.items() if getattr(host, k) != v}
    for key, value in changes.items():
        setattr(host, key, value)
    host.full_clean()
    if "storage_pool" in changes:
        _refresh_capacity(host)
        if host.reachable and host.last_error:
            raise ValidationError({"storage_pool": host.last_error})
    host.save()
    audit_record(
        actor=updated_by,
        action="host.update",
        obj=host,
        changes=changed_fields(before, snapshot(host, fields)),
        remote_addr=remote_addr,
    )
    return host


@transaction.atomic
def host_refresh(*, host: Host) -> Host:
    """Re-read capacity and reachability from libvirt (periodic; no user involved)."""
    _refresh_capacity(host)
    host.save(
        update_fields=["cpus", "memory_mib", "disk_gib", "reachable", "last_error", "last_seen_at"]
    )
    return host


@transaction.atomic
def flavor_create(
    *,
    created_by: User,
    name: str,
    vcpus: int,
    ram_mib: int,
    disk_gib: int,
    is_public: bool = True,
    remote_addr: str | None = None,
) -> Flavor:
    require_platform_admin(created_by)
    flavor = Flavor(name=name, vcpus=vcpus, ram_mib=ram_mib, disk_gib=disk_gib, is_public=is_public)
    flavor.full_clean()
    flavor.save()
    audit_record(
        actor=created_by,
        action="flavor.create",
        obj=flavor,
        changes=created_fields(flavor, ["name", "vcpus", "ram_mib", "disk_gib", "is_public"]),
        remote_addr=remote_addr,
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
    remote_addr: str | None = None,
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
        changes=created_fields(
            image, ["name", "kind", "base_volume", "kernel_path", "initrd_path", "is_public"]
        ),
        remote_addr=remote_addr,
    )
    return image


# --- reconciliation ------------------------------------------------------------------------


def _orphan(host: Host, uuid: str) -> dict[str, str]:
    """The orphan as libvirt shows it now; a ValidationError if it is not (or no longer) one."""
    live = {u: (name, state) for u, name, state in hypervisor.domain_list(host.uri)}
    known = VirtualMachine.objects.filter(uuid=uuid).exclude(state=VMState.DELETED).exists()
    if uuid not in live or known:
        raise ValidationError(
            {"uuid": _("No unknown domain with this UUID on %(host)s.") % {"host": host.name}}
        )
    name, state = live[uuid]
    return {"uuid": uuid, "name": name, "state": state}


def host_orphan_destroy(
    *, host: Host, uuid: str, requested_by: User, remote_addr: str | None = None
) -> None:
    """Power off and undefine a domain Nuage does not know (its disks are left alone)."""
    require_platform_admin(requested_by)
    orphan = _orphan(host, uuid)
    hypervisor.remove_domain(host.uri, uuid)
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(
            orphan_domains=[o for o in host.orphan_domains if o.get("uuid") != uuid]
        )
        audit_record(
            actor=requested_by,
            action="host.orphan.destroy",
            obj=host,
            changes={"domain": orphan},
            remote_addr=remote_addr,
        )


@transaction.atomic
def host_orphan_adopt(
    *,
    host: Host,
    uuid: str,
    requested_by: User,
    environment: Environment,
    owner: User,
    flavor: Flavor,
    image: Image,
    name: str,
    remote_addr: str | None = None,
) -> VirtualMachine:
    """Make a domain Nuage does not know one of a tenant's VMs, running or stopped as it is."""
    require_platform_admin(requested_by)
    orphan = _orphan(host, uuid)
    if VirtualMachine.objects.filter(uuid=uuid).exists():
        raise ValidationError(
            {"uuid": _("This domain is what is left of a deleted VM: destroy it instead.")}
        )
    role = tenant_role(owner, environment.tenant)
    if Perm.VM_REQUEST not in ROLE_PERMS.get(role or "", frozenset()):
        raise ValidationError({"owner": _("The owner must be a member of the tenant.")})
    vm = VirtualMachine(
        uuid=uuid,
        tenant=environment.tenant,
        environment=environment,
        owner=owner,
        flavor=flavor,
        image=image,
        name=name,
        host=host,
        approved_by=requested_by,
    )
    vm.full_clean(exclude=["uuid"])
    vm.save()
    running = orphan["state"] == RuntimeState.RUNNING
    _transition(
        vm,
        Transition.ADOPT_RUNNING if running else Transition.ADOPT_STOPPED,
        runtime_state=orphan["state"],
    )
    Host.objects.filter(pk=host.pk).update(
        orphan_domains=[o for o in host.orphan_domains if o.get("uuid") != uuid]
    )
    audit_record(
        actor=requested_by,
        action="vm.adopt",
        obj=vm,
        tenant=vm.tenant,
        changes={"domain": orphan, "host": host.name},
        remote_addr=remote_addr,
    )
    return vm


def _domain_vanished(vm: VirtualMachine, host: Host) -> int:
    message = _("The VM's domain disappeared from host %(host)s.") % {"host": host.name}
    with transaction.atomic():
        try:
            _transition(vm, Transition.DOMAIN_VANISHED, error_message=message)
        except ConflictError:
            return 0  # it moved on meanwhile (an operation started)
        audit_record(actor=None, action="vm.domain_vanished", obj=vm, tenant=vm.tenant, changes={})
    return 1


def reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Repair what a lost message or a crashed worker left behind, and read live state."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.NUAGE["STALE_SECONDS"])
    max_attempts = settings.NUAGE["MAX_ATTEMPTS"]
    counts = {
        "redispatched": 0,
        "failed": 0,
        "runtime_updated": 0,
        "orphaned_states": 0,
        "evacuations": 0,
        "vanished": 0,
        "orphans": 0,
    }

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
            never_ran = vm.state == VMState.PROVISIONING
            try:
                _transition(vm, Transition.FAIL, error_message=_("The operation was lost."))
            except ConflictError:
                continue
            quota_release(vm=vm, reserved_only=True)  # a provisioning that never ran
            if never_ran:
                nics_release(vm=vm)
            counts["orphaned_states"] += 1

    for host in Host.objects.filter(enabled=True):
        try:
            domains = hypervisor.domain_list(host.uri)
        except hypervisor.HypervisorError as exc:
            Host.objects.filter(pk=host.pk).update(reachable=False, last_error=str(exc))
            continue
        states = {uuid: state for uuid, _name, state in domains}
        placed = VirtualMachine.objects.filter(host=host).exclude(state=VMState.DELETED)
        for vm in placed.exclude(state=VMState.MIGRATING).only(
            "id", "uuid", "runtime_state", "state", "name"
        ):
            live = states.get(str(vm.uuid), RuntimeState.NO_DOMAIN)
            if live != vm.runtime_state:
                VirtualMachine.objects.filter(pk=vm.pk).update(
                    runtime_state=live, runtime_checked_at=now
                )
                counts["runtime_updated"] += 1
            if live == RuntimeState.NO_DOMAIN and vm.state in (VMState.RUNNING, VMState.STOPPED):
                counts["vanished"] += _domain_vanished(vm, host)
        known = {str(u) for u in placed.values_list("uuid", flat=True)} | {
            str(u)
            for u in Operation.objects.filter(
                target_host=host, status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
            ).values_list("vm__uuid", flat=True)
        }
        orphans = [
            {"uuid": uuid, "name": name, "state": state}
            for uuid, name, state in domains
            if uuid not in known
        ]
        counts["orphans"] += len(orphans)
        Host.objects.filter(pk=host.pk).update(
            reachable=True, last_error="", last_seen_at=now, orphan_domains=orphans
        )

    # VMs left on a host in maintenance (no room then, or busy) are moved as soon as they can be.
    for host in Host.objects.filter(maintenance=True, reachable=True):
        counts["evacuations"] += host_evacuate(host=host)["started"]
    rolling_maintenance_advance(now=now)
    return counts
