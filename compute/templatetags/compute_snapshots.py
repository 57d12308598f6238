"""The VM page's snapshots card: the VM's snapshots, the take form and the schedule."""

from __future__ import annotations

from typing import Any

from django import template

from compute import selectors
from compute.choices import SnapshotFrequency, VMState
from compute.models import SnapshotSchedule, VirtualMachine
from compute.services.snapshots import can_operate_snapshots

register = template.Library()


@register.inclusion_tag("compute/_vm_snapshots.html", takes_context=True)
def vm_snapshots_card(context: dict[str, Any], vm: VirtualMachine) -> dict[str, Any]:
    """The card, for the user viewing the page (a deleted or unplaced VM shows none)."""
    request = context["request"]
    shown = vm.host_id is not None and vm.state not in (
        VMState.DELETED,
        VMState.PENDING_APPROVAL,
        VMState.REJECTED,
    )
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "vm": vm,
        "shown": shown,
        "snapshots": _snapshots(vm) if shown else [],
        "schedule": _schedule(vm) if shown else None,
        "frequencies": SnapshotFrequency.choices,
        "can_snapshot": shown and can_operate_snapshots(request.user, vm),
        "steady": vm.state in (VMState.RUNNING, VMState.STOPPED),
    }


# The page's VM came with its snapshots and schedule (selectors.vm_page); another VM reads them.


def _snapshots(vm: VirtualMachine) -> list[Any]:
    rows = getattr(vm, "card_snapshots", None)
    return list(selectors.vm_snapshots(vm=vm)) if rows is None else rows


def _schedule(vm: VirtualMachine) -> SnapshotSchedule | None:
    if hasattr(vm, "card_schedule"):
        return vm.card_schedule
    return SnapshotSchedule.objects.unscoped().filter(vm=vm).first()
