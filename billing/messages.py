"""What Nuage tells a tenant about its budget: the `budget.threshold` webhook and e-mail."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from portal.delivery import mail
from portal.events import Message
from portal.models import OutboxEvent, Tenant
from portal.permissions import Perm

BUDGET_EVENTS = ("budget.threshold",)


def budget_mail(tenant: Tenant, budget: dict[str, Any]) -> tuple[str, str]:
    """The subject and body of a crossed threshold (`budget` as in the webhook body)."""
    names = {
        "tenant": tenant.name,
        "threshold": budget["threshold"],
        "amount": budget["amount"],
        "currency": budget["currency"],
        "month": budget["month"],
        "actual": budget["actual"],
        "forecast": budget["forecast"],
    }
    if budget["basis"] == "actual":
        subject = _("[Nuage] %(tenant)s has used %(threshold)s%% of its budget") % names
    else:
        subject = _("[Nuage] %(tenant)s is forecast to use %(threshold)s%% of its budget") % names
    text = (
        _(
            "Budget of %(tenant)s for %(month)s: %(amount)s %(currency)s.\n"
            "Cost so far: %(actual)s %(currency)s. "
            "Forecast for the month: %(forecast)s %(currency)s."
        )
        % names
    )
    return subject, f"{text}\n\n{mail.link('/costs/')}\n"


def render(event: OutboxEvent) -> Message:
    """The payload is the webhook data itself (a `budget` object); the tenant's admins and
    approvers are mailed."""
    tenant = event.tenant
    return Message(
        webhook=event.payload,
        mail_to=mail.tenant_recipients(tenant, Perm.VM_APPROVE),
        compose=lambda _user: budget_mail(tenant, event.payload["budget"]),
        notice=lambda _user: (
            budget_mail(tenant, event.payload["budget"])[0].removeprefix("[Nuage] "),
            "/costs/",
        ),
        notify_to=mail.tenant_recipients(tenant, Perm.VM_APPROVE, with_email=False),
    )
