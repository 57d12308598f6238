"""The VM page's volumes card (`{% load volumes %}{% vm_volumes_card vm %}`): its attached data
volumes, detach, attach one of the tenant's free volumes, or a new one."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

from compute import selectors
from compute.choices import VMState, VolumeState
from compute.models import VirtualMachine
from compute.services import can_operate_volume
from compute.volume_views import VolumeForm

register = template.Library()


@register.inclusion_tag("compute/_vm_volumes.html", takes_context=True)
def vm_volumes_card(context: dict[str, Any], vm: VirtualMachine) -> dict[str, Any]:
    request = context["request"]
    user = request.user
    steady = vm.state in (VMState.RUNNING, VMState.STOPPED)
    # Both lists in one read: the VM's volumes, and the tenant's free ones it could attach
    # (unplaced, or on its host); the page's VM came with them (selectors.vm_page).
    rows = getattr(vm, "card_volumes", None)
    if rows is None:
        free_here = Q(state=VolumeState.AVAILABLE, vm__isnull=True) & (
            Q(host__isnull=True) | Q(host_id=vm.host_id)
        )
        rows = list(
            selectors.volume_list(fetched_by=user)
            .filter(tenant_id=vm.tenant_id)
            .filter(Q(vm=vm) | free_here)
            .order_by("name", "id")
        )
    attached = sorted((v for v in rows if v.vm_id == vm.pk), key=lambda v: v.target_dev)
    free = [v for v in rows if v.vm_id is None]
    return {
        "vm": vm,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "volumes": [(v, can_operate_volume(user, v)) for v in attached],
        "free_volumes": [v for v in free if can_operate_volume(user, v)] if steady else [],
        "can_add": steady and bool(context.get("can_operate")),
        "form": VolumeForm(),
    }
