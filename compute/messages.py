"""What Nuage tells people about a VM: the events it emits, their webhook data and e-mails."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from compute.models import VirtualMachine
from portal.delivery import mail
from portal.events import Message
from portal.models import OutboxEvent, User
from portal.permissions import Perm

VM_EVENTS = ("vm.pending_approval", "vm.approved", "vm.rejected", "vm.running", "vm.error")


def vm_data(vm: VirtualMachine) -> dict[str, Any]:
    """The `vm` object of a webhook body."""
    return {
        "id": vm.pk,
        "uuid": str(vm.uuid),
        "name": vm.name,
        "environment": vm.environment.name,
        "state": vm.state,
        "owner": vm.owner.username,
        "host": vm.host.name if vm.host else None,
        "error_message": vm.error_message,
        "rejection_reason": vm.rejection_reason,
    }


def vm_payload(vm: VirtualMachine) -> dict[str, Any]:
    """What a VM event records in the outbox (`portal.events.emit(kind, tenant=vm.tenant,
    payload=vm_payload(vm))`): the VM's id, read again by `render` when the event is delivered."""
    return {"vm_id": vm.pk}


def vm_mail(kind: str, vm: VirtualMachine) -> tuple[str, str]:
    """The subject and body of a VM event's e-mail, in the active language."""
    subject, text = _vm_texts(kind, vm)
    return subject, f"{text}\n\n{mail.link(f'/vms/{vm.pk}/')}\n"


def vm_notice(kind: str, vm: VirtualMachine) -> tuple[str, str]:
    """The in-app notification of a VM event (its text and page), in the active language."""
    page = "/approvals/" if kind == "vm.pending_approval" else f"/vms/{vm.pk}/"
    return _vm_texts(kind, vm)[1], page


def _vm_texts(kind: str, vm: VirtualMachine) -> tuple[str, str]:
    names = {"vm": vm.name, "tenant": vm.tenant.name, "env": vm.environment.name}
    if kind == "vm.pending_approval":
        subject = _("[Nuage] %(vm)s waits for your approval") % names
        text = _("%(owner)s asks for %(vm)s in %(tenant)s/%(env)s (%(flavor)s).") % {
            **names,
            "owner": vm.owner.username,
            "flavor": vm.flavor.name,
        }
        if vm.justification:
            text += " " + _("Why: %(why)s") % {"why": vm.justification}
    elif kind == "vm.approved":
        subject = _("[Nuage] %(vm)s was approved") % names
        text = _("%(vm)s in %(tenant)s/%(env)s was approved; it is being built.") % names
    elif kind == "vm.rejected":
        subject = _("[Nuage] %(vm)s was rejected") % names
        text = _("%(vm)s was rejected. Reason: %(reason)s") % {
            **names,
            "reason": vm.rejection_reason,
        }
    elif kind == "vm.running":
        subject = _("[Nuage] %(vm)s is running") % names
        text = _("%(vm)s in %(tenant)s/%(env)s is running.") % names
    else:
        subject = _("[Nuage] %(vm)s failed") % names
        text = _("%(vm)s is in error: %(error)s") % {**names, "error": vm.error_message}
    return subject, text


def render(event: OutboxEvent) -> Message | None:
    """A VM event as the VM stands when it is delivered: approvers are told of a request, the
    owner of everything else."""
    vm = (
        VirtualMachine.objects.unscoped()
        .select_related("tenant", "environment", "owner", "flavor", "host")
        .filter(pk=event.payload["vm_id"])
        .first()
    )
    if vm is None:
        return None
    # A request's approvers are told in the portal, and by e-mail those with an address (read
    # once for both); the owner is told of everything else.
    approval = event.kind == "vm.pending_approval"
    told: list[User] = (
        mail.tenant_recipients(vm.tenant, Perm.VM_APPROVE, but=vm.owner_id, with_email=False)
        if approval
        else [vm.owner]
    )
    return Message(
        webhook={"vm": vm_data(vm)},
        mail_to=[user for user in told if user.email] if approval else told,
        compose=lambda _user: vm_mail(event.kind, vm),
        notice=lambda _user: vm_notice(event.kind, vm),
        notify_to=told,
    )
