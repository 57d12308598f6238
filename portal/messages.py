"""What Nuage tells a tenant's approvers about its approval policies: a change proposed (that
a second admin must approve) and a change applied."""

from __future__ import annotations

from django.utils.translation import gettext as _

from portal.delivery import mail
from portal.events import Message
from portal.models import Environment, OutboxEvent, User
from portal.permissions import Perm

POLICY_EVENTS = ("environment.policy_proposed", "environment.policy_changed")


def policy_mail(event: OutboxEvent, environment: Environment) -> tuple[str, str]:
    """The subject and body of a policy event, in the active language."""
    from portal.services import policy_text

    payload = event.payload
    values = {
        "env": str(environment),
        "by": payload.get("by", "-"),
        "old": policy_text(payload.get("previous") or {}),
        "new": policy_text(payload.get("policy") or {}),
    }
    if event.kind == "environment.policy_proposed":
        subject = _("Approval policy of %(env)s: a change waits for a second admin") % values
        body = _(
            "%(by)s proposes to loosen the approval policy of %(env)s.\n"
            "Now: %(old)s.\nProposed: %(new)s.\n"
            "Another tenant admin or a platform admin must approve it: %(link)s\n"
        ) % {**values, "link": mail.link("/tenant/")}
    else:
        subject = _("Approval policy of %(env)s changed") % values
        body = (
            _("%(by)s changed the approval policy of %(env)s.\nBefore: %(old)s.\nNow: %(new)s.\n")
            % values
        )
    return subject, body


def render(event: OutboxEvent) -> Message | None:
    """No webhook; an e-mail to the tenant's approvers and admins."""
    environment = (
        Environment.objects.unscoped()
        .select_related("tenant")
        .filter(pk=event.payload.get("environment_id"))
        .first()
    )
    if environment is None:
        return None
    recipients: list[User] = mail.tenant_recipients(event.tenant, Perm.VM_APPROVE)
    return Message(mail_to=recipients, compose=lambda _user: policy_mail(event, environment))
