"""VM snapshots: take (with the guest's memory, or of the disk only), revert, delete, schedules.

A snapshot is an internal snapshot inside the VM's qcow2 disk. The hypervisor work runs as an
operation of the VM (kinds `snapshot_create`, `snapshot_revert`, `snapshot_delete`, one step
each) through the operation engine: dispatched on commit, idempotent steps, the reconciler
re-dispatches a stalled one. The VM keeps its state while it runs (the guest goes on during a
live snapshot), and no other operation may start on it meanwhile: a request for a VM that is
busy, or in a transitional state, is a 409.

Quota and billing: a snapshot counts one in its environment's `snapshots` quota from its
request until its deletion (compute.ports, one conditional UPDATE); billing's ledger records it
once taken, with the size measured on the host, and once deleted, each at the second.

Schedules: `snapshot_schedules_run` (Celery beat) takes a VM's due snapshot, then, on later
runs, deletes its oldest scheduled snapshots beyond the retention count, one operation at a
time (a VM runs one operation at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import (
    EXPORT_ACTIVE_STATES,
    OPERATION_STEPS,
    SNAPSHOT_OPERATION_KINDS,
    SNAPSHOT_SCHEDULE_PERIODS,
    OperationKind,
    OperationStatus,
    RuntimeState,
    SnapshotState,
    Transition,
    VMState,
)
from compute.models import (
    ExportJob,
    Operation,
    OperationStep,
    Snapshot,
    SnapshotSchedule,
    VirtualMachine,
)
from compute.ports import snapshot_quota_give, snapshot_quota_take, snapshot_usage_record
from compute.selectors import can_operate
from compute.services._common import (
    _dispatch,
    _transition,
    export_conflict,
    require_not_container,
)
from portal.audit import audit_entry, audit_record
from portal.bulk import insert_linked, update_row
from portal.errors import ConflictError
from portal.models import AuditEntry, Membership, User
from portal.permissions import Perm, perms_for_role
from portal.prepared import prepared_cursor

# A VM's snapshots can be taken, reverted to and deleted while it is running or stopped.
_VM_STEADY = frozenset({VMState.RUNNING, VMState.STOPPED})
_ACTIVE = [OperationStatus.PENDING, OperationStatus.RUNNING]

SCHEDULE_PERIODS = SNAPSHOT_SCHEDULE_PERIODS


def can_operate_snapshots(user: User, vm: VirtualMachine) -> bool:
    """Whether the user may take, revert and delete this VM's snapshots (as start or stop:
    their own VM, or any of the tenant's)."""
    return can_operate(user, vm)


@dataclass(frozen=True)
class _Locked:
    """What the checks before a snapshot operation need, read with the VM's row lock."""

    role: str | None  # the user's role in the VM's tenant (None: not a member)
    busy: bool  # an operation is pending or running on the VM
    exporting: bool  # an OVA export of the VM runs
    name_taken: bool  # a live snapshot of the VM has the name asked for


@cache
def _lock_sql() -> str:
    """The statement of `_lock_vm`: table names from the models, values as parameters (the
    user, the VM twice, the name, and the states)."""
    vms, ops = VirtualMachine._meta.db_table, Operation._meta.db_table
    exports, snaps = ExportJob._meta.db_table, Snapshot._meta.db_table
    members = Membership._meta.db_table
    active = ", ".join(["%s"] * len(_ACTIVE))
    exporting = ", ".join(["%s"] * len(EXPORT_ACTIVE_STATES))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return f"""
        SELECT vm.state, vm.host_id,
            (SELECT m.role FROM {members} m
             WHERE m.tenant_id = vm.tenant_id AND m.user_id = %s LIMIT 1),
            EXISTS (SELECT 1 FROM {ops} o WHERE o.vm_id = vm.id AND o.status IN ({active})),
            EXISTS (SELECT 1 FROM {exports} e WHERE e.vm_id = vm.id AND e.status IN ({exporting})),
            EXISTS (SELECT 1 FROM {snaps} s
                    WHERE s.vm_id = vm.id AND s.name = %s AND s.state <> %s)
        FROM {vms} vm WHERE vm.id = %s{lock}
    """  # noqa: S608 (table names from the models, values as parameters)


def _lock_vm(vm: VirtualMachine, *, user: User | None, name: str | None = None) -> _Locked:
    """Lock the VM's row (its state and its operations are settled until the commit) and read,
    in the same statement, its state and host (written to `vm`) and what the checks need: the
    user's role in its tenant, whether an operation or an OVA export runs on it, whether a live
    snapshot has `name`. One round trip instead of four, and no ORM query to build."""
    params: list[Any] = [user.pk if user is not None else None]
    params += [str(s) for s in _ACTIVE]
    params += [str(s) for s in EXPORT_ACTIVE_STATES]
    params += [name, SnapshotState.DELETED.value, vm.pk]
    with prepared_cursor() as cursor:  # on the way of every snapshot's request
        cursor.execute(_lock_sql(), params)
        row = cursor.fetchone()
    if row is None:
        raise VirtualMachine.DoesNotExist
    vm.state, vm.host_id, role, busy, exporting, name_taken = row
    return _Locked(
        role=role, busy=bool(busy), exporting=bool(exporting), name_taken=bool(name_taken)
    )


def _require_operate(user: User, vm: VirtualMachine) -> None:
    if not can_operate_snapshots(user, vm):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))


def _require_role_operates(user: User | None, vm: VirtualMachine, role: str | None) -> None:
    """`_require_operate` from the user's role read with the VM's lock (no query); Nuage
    itself (no user: a schedule) may."""
    if user is None:
        return
    perms = perms_for_role(user, role)
    if not (
        Perm.VM_OPERATE_ANY in perms or (vm.owner_id == user.pk and Perm.VM_OPERATE_OWN in perms)
    ):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))


def _require_steady(
    vm: VirtualMachine, locked: _Locked, *, states: frozenset[str] = _VM_STEADY
) -> None:
    if vm.state not in states or vm.host_id is None:
        raise ConflictError(
            _("Snapshots need the VM running or stopped; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    if locked.busy:
        raise ConflictError(
            _("Another operation is running on this VM; try again when it has finished."),
            state=vm.state,
        )
    if locked.exporting:
        raise export_conflict(vm)


def _begin(
    vm: VirtualMachine,
    kind: str,
    snapshot: Snapshot,
    requested_by: User | None,
    audit: AuditEntry,
) -> Operation:
    """Write the operation, its steps and the audit entry (and the snapshot, if new) in one
    statement, and dispatch the operation on commit."""
    op = Operation(vm=vm, kind=kind, snapshot=snapshot, requested_by=requested_by)
    rows: list[tuple[Model, dict[str, int]]] = []
    if snapshot.pk is None:
        rows.append((snapshot, {}))
    rows.append((op, {"snapshot_id": 0} if rows else {}))
    at = len(rows) - 1
    rows += [
        (OperationStep(operation=op, position=i, name=name), {"operation_id": at})
        for i, name in enumerate(OPERATION_STEPS[kind])
    ]
    rows.append((audit, {}))
    insert_linked(*rows)
    _dispatch(op.id)
    return op


def _snapshot_move(snapshot: Snapshot, sources: set[str], target: str, **fields: Any) -> None:
    """Move the snapshot to `target` with a conditional UPDATE (409 if it is not in `sources`)."""
    now = timezone.now()
    values = {"state": target, "state_changed_at": now, **fields}
    if update_row(Snapshot, snapshot.pk, values, where={"state": sources}) != 1:
        current = (
            Snapshot.objects.unscoped().filter(pk=snapshot.pk).values_list("state", flat=True)
        ).first()
        label = SnapshotState(current).label if current else _("gone")
        raise ConflictError(
            _("This snapshot is %(state)s.") % {"state": str(label).lower()}, state=current
        )
    snapshot.state = target
    snapshot.state_changed_at = now
    for name, value in fields.items():
        setattr(snapshot, name, value)


def _name_taken(name: str) -> str:
    return _("This VM already has a snapshot named '%(name)s'.") % {"name": name}


def snapshot_create(
    *,
    vm: VirtualMachine,
    name: str,
    with_memory: bool | None = None,
    requested_by: User | None,
    scheduled: bool = False,
    remote_addr: str | None = None,
) -> Snapshot:
    """Take a snapshot of the VM: with its memory if it runs (live: the guest goes on), of its
    disk if it is stopped (`with_memory` defaults to that; asking otherwise is a 400)."""
    try:
        return _snapshot_create(
            vm=vm,
            name=name,
            with_memory=with_memory,
            requested_by=requested_by,
            scheduled=scheduled,
            remote_addr=remote_addr,
        )
    except IntegrityError as exc:
        # The live name is checked under the VM's lock; the unique constraint stays the rule.
        if "snapshot_unique_live_name_per_vm" not in str(exc):
            raise
        raise ValidationError({"name": _name_taken(name)}) from exc


@transaction.atomic
def _snapshot_create(
    *,
    vm: VirtualMachine,
    name: str,
    with_memory: bool | None,
    requested_by: User | None,
    scheduled: bool,
    remote_addr: str | None,
) -> Snapshot:
    require_not_container(vm)
    locked = _lock_vm(vm, user=requested_by, name=name)
    _require_role_operates(requested_by, vm, locked.role)
    _require_steady(vm, locked)
    running = vm.state == VMState.RUNNING
    if with_memory is None:
        with_memory = running
    errors: dict[str, str] = {}
    if with_memory and not running:
        errors["with_memory"] = _("A snapshot with memory needs the VM running; start it first.")
    elif not with_memory and running:
        errors["with_memory"] = _(
            "A disk-only snapshot needs the VM stopped; stop it first, or include the memory."
        )
    snapshot = Snapshot(
        vm=vm, name=name, with_memory=with_memory, scheduled=scheduled, created_by=requested_by
    )
    try:
        snapshot.clean_fields(exclude=["vm", "created_by"])
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
    if locked.name_taken and "name" not in errors:
        errors["name"] = _name_taken(name)
    if errors:
        raise ValidationError(errors)
    snapshot_quota_take(vm=vm, count=1)
    audit = audit_entry(
        actor=requested_by,
        action="vm.snapshot.create",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"snapshot": name, "with_memory": with_memory, "scheduled": scheduled},
    )
    _begin(vm, OperationKind.SNAPSHOT_CREATE, snapshot, requested_by, audit)
    return snapshot


@transaction.atomic
def snapshot_revert(
    *, snapshot: Snapshot, requested_by: User | None, remote_addr: str | None = None
) -> Snapshot:
    """Bring the VM back to the snapshot: running if it was taken with memory, stopped if not."""
    vm = snapshot.vm
    locked = _lock_vm(vm, user=requested_by)
    _require_role_operates(requested_by, vm, locked.role)
    _require_steady(vm, locked)
    _snapshot_move(snapshot, {SnapshotState.READY}, SnapshotState.REVERTING, error_message="")
    audit = audit_entry(
        actor=requested_by,
        action="vm.snapshot.revert",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"snapshot": snapshot.name},
    )
    _begin(vm, OperationKind.SNAPSHOT_REVERT, snapshot, requested_by, audit)
    return snapshot


@transaction.atomic
def snapshot_delete(
    *, snapshot: Snapshot, requested_by: User | None, remote_addr: str | None = None
) -> Snapshot:
    """Delete the snapshot from the host (its quota place is free and its billing stops once
    it is gone). One in error may be deleted too; a VM in error keeps its snapshots' deletion."""
    vm = snapshot.vm
    locked = _lock_vm(vm, user=requested_by)
    _require_role_operates(requested_by, vm, locked.role)
    _require_steady(vm, locked, states=_VM_STEADY | {VMState.ERROR})
    _snapshot_move(
        snapshot,
        {SnapshotState.READY, SnapshotState.ERROR},
        SnapshotState.DELETING,
        error_message="",
    )
    audit = audit_entry(
        actor=requested_by,
        action="vm.snapshot.delete",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"snapshot": snapshot.name},
    )
    _begin(vm, OperationKind.SNAPSHOT_DELETE, snapshot, requested_by, audit)
    return snapshot


# --- the worker's side: one step per operation kind, then its end ------------------------------


def _uri(op: Operation) -> str:
    host = op.vm.host
    if host is None:
        raise hypervisor.HypervisorError(_("The VM is not placed on any host."))
    return host.uri


def _step_taking_snapshot(op: Operation) -> str:
    snapshot = op.snapshot
    assert snapshot is not None
    taken = hypervisor.create_snapshot(
        _uri(op),
        domain_uuid=str(op.vm.uuid),
        name=snapshot.libvirt_name,
        with_memory=snapshot.with_memory,
        description=snapshot.name,
    )
    if taken.created:
        # Written with the snapshot's move to ready, in the transaction that ends the operation
        # (`snapshot_operation_succeeded`; this is the operation's one step): one write, not a
        # commit of its own. A crash between the two leaves the snapshot on the host and its
        # size unrecorded: the rerun finds it taken, and its size is not measured again.
        snapshot.size_bytes = taken.size_bytes
    return _("Snapshot taken (%(mib)s MiB on the host).") % {
        "mib": round(snapshot.size_bytes / (1 << 20), 1)
    }


def _step_reverting_snapshot(op: Operation) -> str:
    snapshot = op.snapshot
    assert snapshot is not None
    uri, hard = _uri(op), op.vm.flavor.memory_hard_limit_mib
    hypervisor.revert_snapshot(
        uri,
        domain_uuid=str(op.vm.uuid),
        name=snapshot.libvirt_name,
        with_memory=snapshot.with_memory,
    )
    # The snapshot's state is the domain's now, as the operation's end records it
    # (`snapshot_operation_succeeded`): running with memory, stopped without.
    if snapshot.with_memory:
        if hard:  # the guest came back without it, as after any start
            hypervisor.set_memory_hard_limit(uri, str(op.vm.uuid), mib=hard)
            return (
                _("Reverted; the VM is running.")
                + " "
                + _("Memory limited to %(mib)s MiB.") % {"mib": hard}
            )
        return _("Reverted; the VM is running.")
    return _("Reverted; the VM is stopped.")


def _step_deleting_snapshot(op: Operation) -> str:
    snapshot = op.snapshot
    assert snapshot is not None
    if op.vm.host is None:
        return _("Nothing to delete on any host.")
    removed = hypervisor.delete_snapshot(
        op.vm.host.uri, domain_uuid=str(op.vm.uuid), name=snapshot.libvirt_name
    )
    return _("Snapshot deleted.") if removed else _("No snapshot to delete.")


def _deleted(snapshot: Snapshot, at: datetime | None = None) -> None:
    at = at or timezone.now()
    Snapshot.objects.unscoped().filter(pk=snapshot.pk).update(
        state=SnapshotState.DELETED, state_changed_at=at, deleted_at=at
    )
    snapshot.state = SnapshotState.DELETED
    snapshot_quota_give(vm=snapshot.vm, count=1)
    snapshot_usage_record(snapshot=snapshot, kind="deleted", at=at)


def snapshot_operation_succeeded(op: Operation) -> None:
    """In the transaction that ends a snapshot operation: the snapshot (and, for a revert, the
    VM) as the host now has them."""
    assert op.snapshot is not None
    # Read with the operation, whose row is locked; its moves below are conditional UPDATEs.
    snapshot = op.snapshot
    snapshot.vm = op.vm
    now = timezone.now()
    if op.kind == OperationKind.SNAPSHOT_CREATE:
        # With the size its step measured (`_step_taking_snapshot`): one UPDATE.
        _snapshot_move(
            snapshot, {SnapshotState.CREATING}, SnapshotState.READY, size_bytes=snapshot.size_bytes
        )
        snapshot_usage_record(snapshot=snapshot, kind="created", at=snapshot.state_changed_at)
    elif op.kind == OperationKind.SNAPSHOT_REVERT:
        _snapshot_move(snapshot, {SnapshotState.REVERTING}, SnapshotState.READY)
        vm = op.vm
        if snapshot.with_memory and vm.state == VMState.STOPPED:
            _transition(vm, Transition.SNAPSHOT_REVERTED_RUNNING)
        elif not snapshot.with_memory and vm.state == VMState.RUNNING:
            _transition(vm, Transition.SNAPSHOT_REVERTED_STOPPED)
        runtime = RuntimeState.RUNNING if snapshot.with_memory else RuntimeState.SHUTOFF
        VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(
            runtime_state=runtime, runtime_checked_at=now
        )
    elif op.kind == OperationKind.SNAPSHOT_DELETE:
        _deleted(snapshot, now)
    op.status, op.finished_at = OperationStatus.SUCCEEDED, now
    update_row(Operation, op.pk, {"status": op.status, "finished_at": now})  # its row is locked
    audit_record(
        actor=None,
        action=f"vm.{op.kind}.succeeded",
        obj=op.vm,
        tenant=op.vm.tenant,
        changes={"snapshot": snapshot.name},
    )


def snapshot_operation_failed(op: Operation, reason: str) -> None:
    """In the transaction that records a snapshot operation failed: a snapshot not taken or not
    deleted is in error (delete it to retry); one a revert failed to reach stays ready."""
    assert op.snapshot_id is not None
    snapshot = Snapshot.objects.unscoped().select_for_update().get(pk=op.snapshot_id)
    if op.kind == OperationKind.SNAPSHOT_REVERT:
        target = SnapshotState.READY
    else:
        target = SnapshotState.ERROR
    if snapshot.state != SnapshotState.DELETED:
        _snapshot_move(snapshot, {snapshot.state}, target, error_message=reason)


# --- the VM's deletion ------------------------------------------------------------------------


def snapshots_release_with_vm(op: Operation) -> None:
    """In the transaction that records the VM's domain removed (its snapshots went with it):
    its snapshots are deleted, their quota given back and their billing stopped."""
    for snapshot in (
        Snapshot.objects.unscoped()
        .select_for_update()
        .filter(vm_id=op.vm_id)
        .exclude(state=SnapshotState.DELETED)
        .order_by("pk")
    ):
        snapshot.vm = op.vm
        _deleted(snapshot)


# --- schedules --------------------------------------------------------------------------------


@transaction.atomic
def snapshot_schedule_set(
    *,
    vm: VirtualMachine,
    frequency: str,
    retention: int,
    enabled: bool = True,
    requested_by: User,
    remote_addr: str | None = None,
) -> SnapshotSchedule:
    """Set (or change) the VM's snapshot schedule; a retention of 1 to 50 snapshots."""
    _require_operate(requested_by, vm)
    errors: dict[str, str] = {}
    if frequency not in SCHEDULE_PERIODS:
        errors["frequency"] = _("Choose daily or weekly.")
    if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= 50:
        errors["retention"] = _("Keep between 1 and 50 snapshots.")
    if errors:
        raise ValidationError(errors)
    schedule, _created = SnapshotSchedule.objects.unscoped().update_or_create(
        vm=vm, defaults={"frequency": frequency, "retention": retention, "enabled": enabled}
    )
    audit_record(
        actor=requested_by,
        action="vm.snapshot_schedule.set",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"frequency": frequency, "retention": retention, "enabled": enabled},
    )
    return schedule


@transaction.atomic
def snapshot_schedule_remove(
    *, vm: VirtualMachine, requested_by: User, remote_addr: str | None = None
) -> None:
    _require_operate(requested_by, vm)
    SnapshotSchedule.objects.unscoped().filter(vm=vm).delete()
    audit_record(
        actor=requested_by,
        action="vm.snapshot_schedule.remove",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
    )


def _scheduled_name(now: datetime) -> str:
    return f"auto-{now:%Y%m%d-%H%M%S}"


def _schedule_excess(vm: VirtualMachine, retention: int) -> Snapshot | None:
    """The oldest scheduled snapshot beyond the retention, if any (only ready ones are kept
    count of: one being taken or in error is not yet a snapshot to keep)."""
    ready = list(
        Snapshot.objects.unscoped()
        .filter(vm_id=vm.pk, scheduled=True, state=SnapshotState.READY)
        .order_by("-created_at", "-id")
    )
    if len(ready) <= retention:
        return None
    return ready[-1]


def _schedule_run_one(schedule: SnapshotSchedule, now: datetime) -> str:
    vm = schedule.vm
    if vm.state not in _VM_STEADY:
        return "skipped"
    if Operation.objects.unscoped().filter(vm_id=vm.pk, status__in=_ACTIVE).exists():
        return "busy"
    due = schedule.last_run_at is None or (
        schedule.last_run_at + SCHEDULE_PERIODS[schedule.frequency] <= now
    )
    if due:
        with transaction.atomic():
            # The schedule's row is the run's claim: two beats at once take one snapshot.
            claimed = (
                SnapshotSchedule.objects.unscoped()
                .filter(pk=schedule.pk, last_run_at=schedule.last_run_at)
                .update(last_run_at=now, last_error="")
            )
            if not claimed:
                return "claimed"
            try:
                with transaction.atomic():
                    snapshot_create(
                        vm=vm, name=_scheduled_name(now), requested_by=None, scheduled=True
                    )
            except (ValidationError, ConflictError) as exc:
                message = (
                    " ".join(" ".join(m) for m in exc.message_dict.values())
                    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict")
                    else str(getattr(exc, "message", exc))
                )
                SnapshotSchedule.objects.unscoped().filter(pk=schedule.pk).update(
                    last_error=message
                )
                return "failed"
        return "taken"
    excess = _schedule_excess(vm, schedule.retention)
    if excess is None:
        return "idle"
    try:
        excess.vm = vm
        snapshot_delete(snapshot=excess, requested_by=None)
    except ConflictError:
        return "busy"
    return "pruned"


def snapshot_schedules_run(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: each enabled schedule takes its due snapshot, or prunes its oldest scheduled
    snapshot beyond the retention (one operation per VM per run). Idempotent: a due snapshot
    is claimed by moving the schedule's `last_run_at` with a conditional UPDATE."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    schedules = (
        SnapshotSchedule.objects.unscoped()
        .filter(enabled=True)
        .select_related("vm__host", "vm__tenant", "vm__environment")
        .exclude(vm__state=VMState.DELETED)
    )
    for schedule in schedules:
        outcome = _schedule_run_one(schedule, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


__all__ = [
    "SNAPSHOT_OPERATION_KINDS",
    "can_operate_snapshots",
    "snapshot_create",
    "snapshot_delete",
    "snapshot_operation_failed",
    "snapshot_operation_succeeded",
    "snapshot_revert",
    "snapshot_schedule_remove",
    "snapshot_schedule_set",
    "snapshot_schedules_run",
    "snapshots_release_with_vm",
]
