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
        "snapshots": list(selectors.vm_snapshots(vm=vm)) if shown else [],
        "schedule": SnapshotSchedule.objects.unscoped().filter(vm=vm).first() if shown else None,
        "frequencies": SnapshotFrequency.choices,
        "can_snapshot": shown and can_operate_snapshots(request.user, vm),
        "steady": vm.state in (VMState.RUNNING, VMState.STOPPED),
    }
