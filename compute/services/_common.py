"""The state machine's one write (`_transition`) and how an operation begins and is dispatched."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.ledger import usage_record_transition
from compute.choices import (
    OPERATION_FOR_STATE,
    OPERATION_STEPS,
    TRANSITIONS,
    OperationStatus,
    Transition,
    VMState,
)
from compute.models import Operation, OperationStep, VirtualMachine
from portal.errors import ConflictError
from portal.models import User


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


_ACTIVE = [OperationStatus.PENDING, OperationStatus.RUNNING]
