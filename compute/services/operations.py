"""The operation engine: runs an operation step by step, then ends or fails it."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor, messages
from compute.choices import (
    OPERATION_FOR_STATE,
    RUNTIME_AFTER,
    SNAPSHOT_OPERATION_KINDS,
    TRANSITIONAL_STATES,
    OperationKind,
    OperationStatus,
    StepStatus,
    Transition,
    VMState,
)
from compute.ipam import nics_release
from compute.models import Host, Operation, OperationStep, Snapshot, VirtualMachine
from compute.ports import quota_charge, quota_release
from compute.services._common import _transition, operation_claim
from compute.services.migration import _undo_migration
from compute.services.operation_load import operation_load, operation_steps
from compute.services.resize import _undo_resize
from compute.services.seed import seed_remove
from compute.services.snapshots import snapshot_operation_failed, snapshot_operation_succeeded
from compute.services.steps import (
    BLOCKING_STEPS,
    OPERATION_STEP_RUNNERS,
    STEP_EFFECTS,
    STEP_RUNNERS,
)
from portal import events, metrics
from portal.audit import audit_record
from portal.prepared import prepared_cursor, prepares

logger = logging.getLogger(__name__)


# Operations whose end neither reads nor moves the VM (its state is not theirs to change).
_VM_KEPT = frozenset({OperationKind.SNAPSHOT_CREATE, OperationKind.SNAPSHOT_DELETE})


def _load_operation_for_update(operation_id: int) -> Operation:
    return _load_operation(operation_id, for_update=True)


def _load_operation(operation_id: int, *, for_update: bool = False) -> Operation:
    """The operation with its VM and what every step reads of it; the hosts of a migration and
    the snapshot of a snapshot operation, when it has them, in one more query each.

    Not one join of all nine tables: PostgreSQL plans a join in time that grows steeply with
    its tables (the indexes of each are paths to weigh). Planning the nine-table join cost
    several times its execution and more than both extra queries, on every task of every
    operation, though most operations (start, stop, provisioning) have neither. On PostgreSQL
    the task's read (not locked) is one prepared statement with the snapshot and the steps
    (compute/services/operation_load.py): planned once per connection, not per task.
    """
    if not for_update and prepares():
        op = operation_load(operation_id)  # the same, and its steps, in one prepared statement
    else:
        op = _load_operation_orm(operation_id, for_update=for_update)
    host_ids = {op.source_host_id, op.target_host_id} - {None}
    if host_ids:
        hosts = Host.objects.in_bulk(host_ids)
        if op.source_host_id is not None:
            op.source_host = hosts[op.source_host_id]
        if op.target_host_id is not None:
            op.target_host = hosts[op.target_host_id]
    return op


def _load_operation_orm(operation_id: int, *, for_update: bool) -> Operation:
    qs = Operation.objects.unscoped()
    if for_update:
        qs = qs.select_for_update(of=("self",))
    op = qs.select_related(
        "vm__tenant", "vm__environment", "vm__flavor", "vm__image", "vm__host"
    ).get(pk=operation_id)
    if op.snapshot_id is not None:
        op.snapshot = Snapshot.objects.unscoped().get(pk=op.snapshot_id)
    return op


def _run_step(op: Operation, name: str) -> str:
    with_op = OPERATION_STEP_RUNNERS.get(name)
    return with_op(op) if with_op else STEP_RUNNERS[name](op.vm)


def _step_running(op: Operation, step: OperationStep, now: datetime) -> None:
    """Mark `step` running (users see it); the caller has the operation's row locked."""
    if step.status != StepStatus.RUNNING:
        step.status, step.started_at = StepStatus.RUNNING, now
        OperationStep.objects.filter(pk=step.pk).update(status=step.status, started_at=now)
    op.status, op.progressed_at = OperationStatus.RUNNING, now


def _record_step(
    op: Operation,
    now: datetime,
    *,
    done: OperationStep | None,
    detail: str = "",
    following: OperationStep | None,
    starting: bool = False,
) -> bool:
    """In one statement: touch the operation's row if it is still running, and only then mark
    `done` done and `following` (if any) running. False if the operation ended meanwhile.

    One round trip instead of a transaction of four (the operation's UPDATE, the step done, the
    next running): an UPDATE takes the same row lock as a `SELECT … FOR UPDATE`, and both steps
    change only if the operation's row did, in the statement's own transaction (or the caller's).
    A following step already running (a batch interrupted by a crash) keeps its start time.
    `starting`: the operation may still be pending (a task's first step), and is now running.
    """
    if connection.vendor != "postgresql":  # the SQLite demo: no UPDATE in a WITH clause
        return _record_step_orm(
            op, now, done=done, detail=detail, following=following, starting=starting
        )
    ops, steps = Operation._meta.db_table, OperationStep._meta.db_table
    nxt = following.pk if following is not None else None
    sql = f"""
        WITH op AS (
            UPDATE {ops} SET progressed_at = %(now)s, status = %(running)s
            WHERE id = %(op)s AND (status = %(running)s OR (%(starting)s AND status = %(pending)s))
            RETURNING id
        )
        UPDATE {steps} AS s SET
            status = CASE WHEN s.id = %(done)s THEN %(step_done)s ELSE %(step_running)s END,
            detail = CASE WHEN s.id = %(done)s THEN %(detail)s ELSE s.detail END,
            finished_at = CASE WHEN s.id = %(done)s THEN %(now)s ELSE s.finished_at END,
            started_at = CASE
                WHEN s.id = %(next)s AND s.status <> %(step_running)s THEN %(now)s
                ELSE s.started_at
            END
        FROM op WHERE s.id = %(done)s OR s.id = %(next)s
    """  # noqa: S608 (table names from the models, values as parameters)
    params: dict[str, int | str | bool | datetime | None] = {
        "now": now,
        "op": op.pk,
        "running": OperationStatus.RUNNING.value,
        "pending": OperationStatus.PENDING.value,
        "starting": starting,
        "done": done.pk if done is not None else None,
        "next": nxt,
        "step_done": StepStatus.DONE.value,
        "step_running": StepStatus.RUNNING.value,
        "detail": detail,
    }
    # Prepared (portal/prepared.py): two or more of these per task, planned once per connection.
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        touched = cursor.rowcount
    if not touched:
        return False
    if done is not None:
        done.status, done.detail, done.finished_at = StepStatus.DONE, detail, now
    if following is not None and following.status != StepStatus.RUNNING:
        following.status, following.started_at = StepStatus.RUNNING, now
    op.status, op.progressed_at = OperationStatus.RUNNING, now
    return True


def _record_step_orm(
    op: Operation,
    now: datetime,
    *,
    done: OperationStep | None,
    detail: str,
    following: OperationStep | None,
    starting: bool,
) -> bool:
    statuses = [OperationStatus.RUNNING, *([OperationStatus.PENDING] if starting else [])]
    with transaction.atomic():
        touched = (
            Operation.objects.unscoped()
            .filter(pk=op.pk, status__in=statuses)
            .update(progressed_at=now, status=OperationStatus.RUNNING)
        )
        if not touched:
            return False
        if done is not None:
            OperationStep.objects.filter(pk=done.pk).update(
                status=StepStatus.DONE, detail=detail, finished_at=now
            )
            done.status, done.detail, done.finished_at = StepStatus.DONE, detail, now
        if following is not None:
            _step_running(op, following, now)
    op.status, op.progressed_at = OperationStatus.RUNNING, now
    return True


def _batch_ends(ran: int, max_steps: int, started: float, budget: float | None) -> bool:
    return ran >= max_steps or (budget is not None and time.monotonic() - started >= budget)


def operation_advance(
    *, operation_id: int, max_steps: int = 1, budget_seconds: float | None = None
) -> bool:
    """Run the operation's next steps. True if steps remain (the caller dispatches them).

    Up to `max_steps` consecutive steps run in this one call (the task asks for a batch: one
    Celery round trip per provisioning rather than one per step), and no further step starts
    once `budget_seconds` have passed; a blocking step (`BLOCKING_STEPS`: it waits on the guest
    or copies a disk) runs alone, so the batch ends before and after it. The call that finds
    no step left, or finishes the last one, ends the operation in that same transaction.

    All under the worker's claim (`operation_claim`), which lets one caller run the
    operation's steps at a time: a redelivered message, or the reconciler's re-dispatch racing
    a slow worker, finds it held and returns. Every step is recorded as it goes, none in a
    transaction open during the hypervisor call: one statement (`_record_step`) marks the first
    step running, so users see it; after the call, one marks it done and, in a batch, the next
    one running. That statement updates the operation's row first and the steps only if the
    operation is still running (the same row lock as a `SELECT … FOR UPDATE`, without reading
    the operation again): one that ended meanwhile (its host was declared down) records
    nothing more. A step that writes to the database (`STEP_EFFECTS`), and the last one, which
    ends the operation, do so in a transaction with that statement. The steps and the
    operation's rows are read once per call: under the claim nobody else runs them. A step
    found done is not run again; a step interrupted by a crash is run again
    (steps are idempotent).
    """
    with operation_claim(operation_id, wait=False) as claimed:
        if not claimed:
            return False  # another delivery runs this operation now and dispatches what follows
        # Read without a lock: under the claim nobody else runs the steps, and the first
        # step's record below changes nothing if the operation ended meanwhile.
        op = _load_operation(operation_id)
        if op.status not in (OperationStatus.PENDING, OperationStatus.RUNNING):
            return False
        todo = [s for s in operation_steps(op) if s.status != StepStatus.DONE]
        if not todo:
            with transaction.atomic():
                op = _load_operation(operation_id, for_update=True)
                if op.status in (OperationStatus.PENDING, OperationStatus.RUNNING):
                    _operation_succeed(op)
            return False
        if not _record_step(op, timezone.now(), done=None, following=todo[0], starting=True):
            return False
        started_batch, ran = time.monotonic(), 0
        for i, step in enumerate(todo):
            # The step shows as running to the user while the worker does the work.
            delay = float(settings.NUAGE["STEP_DELAY_SECONDS"])
            if delay:
                time.sleep(delay)
            started = time.monotonic()
            try:
                detail = _run_step(op, step.name)  # no transaction open, no row locked
            except hypervisor.HypervisorError as exc:
                metrics.observe_since(metrics.STEP_SECONDS, started, kind=op.kind, step=step.name)
                operation_fail(operation_id=operation_id, reason=str(exc), failed_step_id=step.pk)
                return False
            ran += 1
            following = todo[i + 1] if i + 1 < len(todo) else None
            go_on = following is not None and not (
                step.name in BLOCKING_STEPS
                or following.name in BLOCKING_STEPS
                or _batch_ends(ran, max_steps, started_batch, budget_seconds)
            )
            metrics.observe_since(metrics.STEP_SECONDS, started, kind=op.kind, step=step.name)
            effect = STEP_EFFECTS.get(step.name)
            if following is not None and effect is None:
                # The common case, between two quick steps: one statement, no transaction.
                if not _record_step(
                    op,
                    timezone.now(),
                    done=step,
                    detail=detail,
                    following=following if go_on else None,
                ):
                    _ended_meanwhile(op, step)
                    return False
                if not go_on:
                    return True
                continue
            with transaction.atomic():
                now = timezone.now()
                if not _record_step(op, now, done=step, detail=detail, following=None):
                    _ended_meanwhile(op, step)
                    return False
                if effect is not None:
                    effect(op)
                if following is None:
                    if op.kind not in _VM_KEPT:
                        # What others may have written to the VM meanwhile (its state is the
                        # transition's source); the operation's row is locked.
                        op.vm.refresh_from_db(fields=["state", "host", "error_message"])
                    _operation_succeed(op)
                    return False
                if not go_on:
                    return True
                _step_running(op, following, now)
    return False  # not reached: the last step ends the operation


def _ended_meanwhile(op: Operation, step: OperationStep) -> None:
    # Ended meanwhile (its host was declared down): what the step did stays for the reconciler
    # to find, as after a crash.
    logger.warning("Operation %s ended while its step %s ran", op.pk, step.name)


def _observe_end(op: Operation) -> None:
    """The operation's duration (and a provisioning's, end to end), once it is committed."""
    assert op.finished_at is not None
    seconds = max(0.0, (op.finished_at - op.created_at).total_seconds())
    kind, status = str(op.kind), str(op.status)

    def observe() -> None:
        metrics.OPERATION_SECONDS.labels(kind=kind, status=status).observe(seconds)
        if kind == OperationKind.PROVISION and status == OperationStatus.SUCCEEDED:
            metrics.PROVISIONING_SECONDS.observe(seconds)

    transaction.on_commit(observe)


def _operation_succeed(op: Operation) -> None:
    if op.kind in SNAPSHOT_OPERATION_KINDS:
        snapshot_operation_succeeded(op)  # the VM kept its state: the snapshot moves
        _observe_end(op)
        return
    vm = op.vm
    _kind, end = OPERATION_FOR_STATE[vm.state]
    fields: dict[str, Any] = {}
    if end == Transition.DELETED:
        fields["deleted_at"] = timezone.now()
    # The runtime state the operation leaves is written by the transition's own UPDATE.
    fields["runtime_state"], fields["runtime_checked_at"] = RUNTIME_AFTER[end], timezone.now()
    _transition(vm, end, **fields)
    if end == Transition.PROVISIONED:
        quota_charge(vm=vm)
    elif end == Transition.DELETED:
        quota_release(vm=vm)
        nics_release(vm=vm)
    op.status, op.finished_at = OperationStatus.SUCCEEDED, timezone.now()
    op.save(update_fields=["status", "finished_at"])
    _observe_end(op)
    if op.kind == OperationKind.PROVISION:
        events.emit("vm.running", tenant=vm.tenant, payload=messages.vm_payload(vm))
    audit_record(actor=None, action=f"vm.{op.kind}.succeeded", obj=vm, tenant=vm.tenant)


def operation_fail(*, operation_id: int, reason: str, failed_step_id: int | None = None) -> None:
    """Mark the operation failed and the VM in error, after undoing a half-done provisioning.

    The undoing calls the hypervisor between two transactions, under the worker's claim (the
    caller's own when a step failed: the claim is re-entrant).
    """
    active = (OperationStatus.PENDING, OperationStatus.RUNNING)
    with operation_claim(operation_id, wait=True):
        with transaction.atomic():
            op = _load_operation_for_update(operation_id)
            if op.status not in active:
                return
        cleanup_note, released = "", False
        if op.kind == OperationKind.PROVISION and op.vm.host is not None:
            cleanup_note = _undo_provisioning(op.vm)
            released = not cleanup_note
        if op.kind in (OperationKind.MIGRATE, OperationKind.RESIZE_MOVE):
            cleanup_note = _undo_migration(op)
        with transaction.atomic():
            op = _load_operation_for_update(operation_id)
            if op.status not in active:
                return
            _operation_record_failure(op, reason, cleanup_note, released, failed_step_id)


def _operation_record_failure(
    op: Operation, reason: str, cleanup_note: str, released: bool, failed_step_id: int | None
) -> None:
    vm = op.vm
    if released:  # the provisioning's domain and disk are gone: so is its placement
        VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(host=None)
        vm.host = None
    now = timezone.now()
    step_qs = (
        op.steps.filter(pk=failed_step_id)
        if failed_step_id
        else op.steps.filter(status=StepStatus.RUNNING)
    )
    step_qs.update(status=StepStatus.FAILED, detail=reason, finished_at=now)
    op.status, op.error_message, op.finished_at = OperationStatus.FAILED, reason, now
    op.save(update_fields=["status", "error_message", "finished_at"])
    _observe_end(op)
    message = reason + (f" {cleanup_note}" if cleanup_note else "")
    if op.kind in SNAPSHOT_OPERATION_KINDS:
        snapshot_operation_failed(op, message)  # the VM is as it was; the snapshot says why
    if op.kind in (OperationKind.RESIZE, OperationKind.RESIZE_MOVE) and (
        vm.state == VMState.RESIZING
    ):
        # Nothing ran on the guest (it is stopped): back to stopped at the old flavor, with
        # its quota, and the failed operation tells why.
        _undo_resize(op, message)
    elif op.kind == OperationKind.MIGRATE and vm.state == VMState.MIGRATING:
        # The guest kept running (on the source, or on the target if only the cleanup
        # failed): the VM is running, and the failed operation tells why it did not move.
        _transition(vm, Transition.MIGRATION_ABORTED)
    elif vm.state in TRANSITIONAL_STATES:
        _transition(vm, Transition.FAIL, error_message=message)
        events.emit("vm.error", tenant=vm.tenant, payload=messages.vm_payload(vm))
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
    """Remove what a failed provisioning left on the host; "" when nothing is left there."""
    assert vm.host is not None
    try:
        hypervisor.remove_domain(vm.host.uri, str(vm.uuid))
        hypervisor.remove_volume(vm.host.uri, pool=vm.host.storage_pool, name=vm.volume_name)
        seed_remove(vm=vm, host=vm.host)
    except hypervisor.HypervisorError as exc:
        # Keep the host so that deleting the VM retries the cleanup there.
        return _("Cleanup on the host failed too (%(error)s); delete the VM to retry.") % {
            "error": exc
        }
    return ""
