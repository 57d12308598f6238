"""The state machine's one write (`_transition`); operations begun, dispatched and claimed."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compute.choices import (
    EXPORT_ACTIVE_STATES,
    OPERATION_FOR_STATE,
    SNAPSHOT_OPERATION_KINDS,
    TRANSITIONS,
    OperationStatus,
    Transition,
    VMState,
    operation_steps,
)
from compute.models import ExportJob, Operation, OperationStep, VirtualMachine
from compute.ports import usage_record_transition
from portal.bulk import insert_linked
from portal.errors import ConflictError
from portal.events import deliver_on_commit
from portal.models import AuditEntry, OutboxEvent, User

logger = logging.getLogger(__name__)


def _transition(
    vm: VirtualMachine, transition: str, *, condition: Q | None = None, **fields: Any
) -> None:
    """Move the VM along a declared transition with a conditional UPDATE.

    Two concurrent callers cannot both win: the row only changes if it is still in a source
    state, and the loser gets a ConflictError naming the state it found. `condition`: what
    else the row must satisfy in that same statement (the caller tells, if it fails, which of
    its checks failed before the ConflictError).
    """
    sources, target = TRANSITIONS[transition]
    now = timezone.now()
    rows = VirtualMachine.objects.unscoped().filter(pk=vm.pk, state__in=sources)
    if condition is not None:
        rows = rows.filter(condition)
    updated = rows.update(state=target, state_changed_at=now, **fields)
    if updated != 1:
        current = (
            VirtualMachine.objects.unscoped()
            .filter(pk=vm.pk)
            .values_list("state", flat=True)
            .first()
        )
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


def require_not_container(vm: VirtualMachine) -> None:
    """409 for what only a VM has: disks (volumes, snapshots, OVA export) and a resize."""
    if vm.is_container:
        raise ConflictError(
            _(
                "%(name)s is a container: it has no disks to snapshot, attach or export, and "
                "keeps its flavor (request a new container to change it)."
            )
            % {"name": vm.name},
            state=vm.state,
        )


def require_no_export(vm: VirtualMachine) -> None:
    """409 while an OVA export of the VM runs: its disks are being read as they are, so
    nothing may start the VM or write to them (start, resize, delete, snapshots, volumes).
    Callers hold the VM's row lock (an export begins under it too) or have just moved it."""
    if ExportJob.objects.unscoped().filter(vm_id=vm.pk, status__in=EXPORT_ACTIVE_STATES).exists():
        raise export_conflict(vm)


def export_conflict(vm: VirtualMachine) -> ConflictError:
    """The 409 for a change to a VM whose OVA export runs (`require_no_export`'s)."""
    return ConflictError(
        _(
            "%(name)s is being exported as an OVA; its disks must not change meanwhile. "
            "Try again when the export is ready or has failed."
        )
        % {"name": vm.name},
        state=vm.state,
    )


def _dispatch(operation_id: int) -> None:
    from compute.tasks import operation_advance  # tasks import services, not the other way

    transaction.on_commit(lambda: operation_advance.delay(operation_id))


def _operation_begin(
    vm: VirtualMachine,
    *,
    requested_by: User | None,
    kind: str | None = None,
    new_vm: bool = False,
    events: Sequence[OutboxEvent] = (),
    audit: Sequence[AuditEntry] = (),
    **fields: Any,
) -> Operation:
    """Create the operation the VM's (transitional) state starts, with its steps, and dispatch
    it on commit; `kind` names another operation for that state (a resize that moves).
    `new_vm`: the VM has never been provisioned (created in this transaction, or approved
    just now out of pending approval): it has no disk to export nor snapshot operation.
    `events` (unsaved, `portal.events.event_new`) and `audit` entries (unsaved) are inserted
    with the operation and its steps in one statement; the events are delivered on commit,
    before the operation's task is published."""
    kind = kind or OPERATION_FOR_STATE[vm.state][0]
    if not new_vm:
        require_no_export(vm)
        if (
            Operation.objects.unscoped()
            .filter(vm_id=vm.pk, status__in=_ACTIVE, kind__in=SNAPSHOT_OPERATION_KINDS)
            .exists()
        ):
            # A snapshot is being taken, reverted to or deleted (the VM kept its state
            # meanwhile).
            raise ConflictError(
                _("A snapshot operation is running on this VM; try again when it has finished."),
                state=vm.state,
            )
    op = Operation(vm=vm, kind=kind, requested_by=requested_by, **fields)
    steps = [
        OperationStep(operation=op, position=i, name=name)
        for i, name in enumerate(operation_steps(kind, vm.kind))
    ]
    # The events first, then the operation and its steps, then the audit entries: one INSERT.
    rows: list[tuple[Model, dict[str, int]]] = [(event, {}) for event in events]
    at = len(rows)
    rows.append((op, {}))
    rows += [(step, {"operation_id": at}) for step in steps]
    rows += [(entry, {}) for entry in audit]
    insert_linked(*rows)
    _cache_steps(op, steps)
    # Published on commit in this order: the events' deliveries before the operation's task,
    # so that "approved" reaches the requester before "running" even with a quick worker.
    for event in events:
        deliver_on_commit(event)
    _dispatch(op.id)
    return op


def _cache_steps(op: Operation, steps: list[OperationStep]) -> None:
    """Leave the new steps where `op.steps.all()` reads them (an answer shows them, no query)."""
    cached: Any = op.steps.all()
    cached._result_cache = steps
    cached._prefetch_done = True
    op.__dict__.setdefault("_prefetched_objects_cache", {})["steps"] = cached


_ACTIVE = [OperationStatus.PENDING, OperationStatus.RUNNING]


# The first key of the operation claims' advisory locks (the billing trigger uses another).
_CLAIM_NAMESPACE = 1869639793


@contextmanager
def operation_claim(operation_id: int, *, wait: bool) -> Iterator[bool]:
    """Hold the worker's claim on an operation: whoever holds it runs the operation's steps.

    A PostgreSQL session-level advisory lock, not a row lock: it is held with no transaction
    open, so a step may call the hypervisor for minutes (a live migration) while the operation
    and VM rows stay free for everyone else, and it is released when the holder's connection
    closes (a killed worker), as a row lock would be. Re-entrant within one connection. Yields
    whether it is held; `wait=False` does not wait for another holder. Other databases (the
    SQLite demo, one worker) have no claim: always held.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = [_CLAIM_NAMESPACE, operation_id % 2147483647]
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
            held = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            row = cursor.fetchone()
            held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except DatabaseError:  # the connection is gone, and the lock with it
                logger.warning("Could not release the claim on operation %s", operation_id)
