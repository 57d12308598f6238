"""The VM page's OVF card: export a stopped VM, follow its exports, download a ready one."""

from __future__ import annotations

from typing import Any

from django import template

from compute import selectors
from compute.choices import EXPORT_ACTIVE_STATES, VMState
from compute.models import VirtualMachine

register = template.Library()


@register.inclusion_tag("compute/_vm_exports.html", takes_context=True)
def vm_exports_card(context: dict[str, Any], vm: VirtualMachine) -> dict[str, Any]:
    user = context["request"].user
    # The page's VM came with its latest exports (selectors.vm_page).
    exports = getattr(vm, "card_exports", None)
    if exports is None:
        exports = selectors.vm_exports(vm=vm)
    may = selectors.can_operate(user, vm) if user.is_authenticated else False
    return {
        "vm": vm,
        "exports": exports,
        "may_export": may,
        "can_export": may
        and vm.state == VMState.STOPPED
        and not any(e.status in EXPORT_ACTIVE_STATES for e in exports),
        "active": any(e.status in EXPORT_ACTIVE_STATES for e in exports),
        "csrf_token": context.get("csrf_token"),
    }
