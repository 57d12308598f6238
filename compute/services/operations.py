"""The operation engine: runs the next step under the row lock, then ends or fails the operation."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import (
    OPERATION_FOR_STATE,
    RUNTIME_AFTER,
    TRANSITIONAL_STATES,
    OperationKind,
    OperationStatus,
    StepStatus,
    Transition,
    VMState,
)
from compute.ipam import nics_release
from compute.models import Operation, VirtualMachine
from compute.services._common import _transition
from compute.services.migration import _undo_migration
from compute.services.steps import OPERATION_STEP_RUNNERS, STEP_RUNNERS
from portal.audit import audit_record
from portal.notifications import emit
from quotas.services import quota_charge, quota_release


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
