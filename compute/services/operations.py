"""The operation engine: runs an operation step by step, then ends or fails it."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
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
from compute.models import Operation, OperationStep, VirtualMachine
from compute.ports import quota_charge, quota_release
from compute.services._common import _transition, operation_claim
from compute.services.migration import _undo_migration
from compute.services.resize import _undo_resize
from compute.services.seed import seed_remove
from compute.services.snapshots import snapshot_operation_failed, snapshot_operation_succeeded
from compute.services.steps import OPERATION_STEP_RUNNERS, STEP_EFFECTS, STEP_RUNNERS
from portal import events, metrics
from portal.audit import audit_record

logger = logging.getLogger(__name__)


def _load_operation_for_update(operation_id: int) -> Operation:
    return (
        Operation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related(
            "vm__tenant",
            "vm__flavor",
            "vm__image",
            "vm__host",
            "source_host",
            "target_host",
            "snapshot",
        )
        .get(pk=operation_id)
    )


def _run_step(op: Operation, name: str) -> str:
    with_op = OPERATION_STEP_RUNNERS.get(name)
    return with_op(op) if with_op else STEP_RUNNERS[name](op.vm)


def operation_advance(*, operation_id: int) -> bool:
    """Run the operation's next step, and end the operation when that was its last. True if
    more steps remain (the caller dispatches them).

    Under the worker's claim (`operation_claim`: one caller runs the operation's steps at a
    time, another delivery of the same message returns at once), two short transactions
    around the hypervisor call, none open during it: the first marks the step running (users
    see it) after checking under the operation's row lock that it is still to do, the second
    (row locked again) records it done with what it writes to the database (`STEP_EFFECTS`)
    and, after the last step, ends the operation in that same transaction: no further task
    just to record the end. Safe to call twice for the same step (a redelivered message, or
    the reconciler's re-dispatch racing a slow worker): a step found done is not run again.
    """
    with operation_claim(operation_id, wait=False) as claimed:
        if not claimed:
            return False  # another delivery runs this operation now and dispatches what follows
        with transaction.atomic():
            op = _load_operation_for_update(operation_id)
            if op.status not in (OperationStatus.PENDING, OperationStatus.RUNNING):
                return False
            to_do = list(op.steps.exclude(status=StepStatus.DONE).order_by("position"))
            if not to_do:  # its steps were done before a crash: only the end is left
                _operation_succeed(op)
                return False
            step, last = to_do[0], len(to_do) == 1
            now = timezone.now()
            if step.status != StepStatus.RUNNING:
                step.status, step.started_at = StepStatus.RUNNING, now
                step.save(update_fields=["status", "started_at"])
            op.status, op.progressed_at = OperationStatus.RUNNING, now
            op.save(update_fields=["status", "progressed_at"])
        delay = float(settings.NUAGE["STEP_DELAY_SECONDS"])
        if delay:
            # The step shows as running to the user for a while (demos, crash tests); the
            # operation may have been ended meanwhile (its host declared down).
            time.sleep(delay)
            still = Operation.objects.unscoped().filter(
                pk=operation_id, status=OperationStatus.RUNNING
            )
            if not still.exists():
                return False
        started = time.monotonic()
        try:
            detail = _run_step(op, step.name)  # no transaction open, no row locked
        except hypervisor.HypervisorError as exc:
            metrics.observe_since(metrics.STEP_SECONDS, started, kind=op.kind, step=step.name)
            operation_fail(operation_id=operation_id, reason=str(exc), failed_step_id=step.pk)
            return False
        with transaction.atomic():
            op = _load_operation_for_update(operation_id)
            if op.status != OperationStatus.RUNNING:
                # Ended meanwhile (its host was declared down): what the step did stays for
                # the reconciler to find, as after a crash.
                logger.warning("Operation %s ended while its step %s ran", op.pk, step.name)
                return False
            metrics.observe_since(metrics.STEP_SECONDS, started, kind=op.kind, step=step.name)
            effect = STEP_EFFECTS.get(step.name)
            if effect is not None:
                effect(op)
            now = timezone.now()
            OperationStep.objects.filter(pk=step.pk).update(
                status=StepStatus.DONE, detail=detail, finished_at=now
            )
            if last:
                # The operation ends here. Read again after an effect (its row stays locked)
                # so that the end sees what the effect wrote (a new host).
                _operation_succeed(_load_operation_for_update(operation_id) if effect else op)
                return False
            op.progressed_at = now
            op.save(update_fields=["progressed_at"])
            return True


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
    _transition(vm, end, **fields)
    if end == Transition.PROVISIONED:
        quota_charge(vm=vm)
    elif end == Transition.DELETED:
        quota_release(vm=vm)
        nics_release(vm=vm)
    VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(
        runtime_state=RUNTIME_AFTER[end], runtime_checked_at=timezone.now()
    )
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
