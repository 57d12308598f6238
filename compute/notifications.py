"""VM events out of Nuage (`vm.pending_approval`, `vm.approved`, `vm.rejected`, `vm.running`,
`vm.error`): their webhook payload and e-mails, on the portal's delivery machinery
(`portal.notifications`: who is told, signed deliveries, retries).

`emit` is called inside the caller's transaction; the rest runs after the commit, in the
`compute.notify_vm_event` task: an event of a rolled-back change is never sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from compute.models import VirtualMachine
from portal.notifications import tenant_approvers, webhook_deliveries_create


def emit(event: str, *, vm: VirtualMachine) -> None:
    """Announce a VM event once the current transaction commits (never if it rolls back)."""
    from compute.tasks import notify_vm_event  # the tasks import services, which import this

    event_id = str(uuid.uuid4())
    transaction.on_commit(lambda: notify_vm_event.delay(event, vm.pk, event_id))


def payload(event: str, vm: VirtualMachine, event_id: str) -> dict[str, Any]:
    return {
        "event": event,
        "id": event_id,
        "sent_at": timezone.now().isoformat(),
        "tenant": vm.tenant.slug,
        "vm": {
            "id": vm.pk,
            "uuid": str(vm.uuid),
            "name": vm.name,
            "environment": vm.environment.name,
            "state": vm.state,
            "owner": vm.owner.username,
            "host": vm.host.name if vm.host else None,
            "error_message": vm.error_message,
            "rejection_reason": vm.rejection_reason,
        },
    }


def _mail(event: str, vm: VirtualMachine) -> tuple[str, str]:
    link = f"{settings.NUAGE['BASE_URL'].rstrip('/')}/vms/{vm.pk}/"
    names = {"vm": vm.name, "tenant": vm.tenant.name, "env": vm.environment.name}
    if event == "vm.pending_approval":
        subject = _("[Nuage] %(vm)s waits for your approval") % names
        text = _("%(owner)s asks for %(vm)s in %(tenant)s/%(env)s (%(flavor)s).") % {
            **names,
            "owner": vm.owner.username,
            "flavor": vm.flavor.name,
        }
    elif event == "vm.approved":
        subject = _("[Nuage] %(vm)s was approved") % names
        text = _("%(vm)s in %(tenant)s/%(env)s was approved; it is being built.") % names
    elif event == "vm.rejected":
        subject = _("[Nuage] %(vm)s was rejected") % names
        text = _("%(vm)s was rejected. Reason: %(reason)s") % {
            **names,
            "reason": vm.rejection_reason,
        }
    elif event == "vm.running":
        subject = _("[Nuage] %(vm)s is running") % names
        text = _("%(vm)s in %(tenant)s/%(env)s is running.") % names
    else:
        subject = _("[Nuage] %(vm)s failed") % names
        text = _("%(vm)s is in error: %(error)s") % {**names, "error": vm.error_message}
    return subject, f"{text}\n\n{link}\n"


def send_emails(event: str, vm: VirtualMachine) -> int:
    recipients = (
        tenant_approvers(vm.tenant, but=vm.owner_id)
        if event == "vm.pending_approval"
        else [vm.owner]
    )
    sent = 0
    for user in recipients:
        if not user.email:
            continue
        # In the recipient's language when we know it (the e-mail is read later, elsewhere).
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            subject, body = _mail(event, vm)
        sent += send_mail(subject, body, None, [user.email], fail_silently=False)
    return sent


def deliveries_create(event: str, vm: VirtualMachine, event_id: str) -> list[int]:
    """One delivery per interested webhook; a rerun with the same event id adds none."""
    body = json.dumps(payload(event, vm, event_id), sort_keys=True)
    return webhook_deliveries_create(event, vm.tenant, event_id, body)
