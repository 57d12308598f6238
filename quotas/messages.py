"""What Nuage tells people about quotas: the requester hears how their request was decided."""

from __future__ import annotations

from django.utils.translation import gettext as _

from portal.events import Message
from portal.models import OutboxEvent
from quotas.choices import RequestStatus, Resource
from quotas.models import QuotaRequest

QUOTA_EVENTS = ("quota_request.decided",)


def decision_mail(qr: QuotaRequest) -> tuple[str, str]:
    """The subject and body telling the requester what was granted, in the active language."""
    granted = ", ".join(f"+{n} {Resource(r).label}" for r, n in qr.granted.items()) or "-"
    subject = _("Your quota request for %(env)s: %(status)s") % {
        "env": str(qr.environment),
        "status": qr.get_status_display(),
    }
    body = _("Granted: %(granted)s\nReason given: %(reason)s\n") % {
        "granted": granted,
        "reason": qr.decision_reason or "-",
    }
    return subject, body


def decided_request(quota_request_id: int) -> QuotaRequest | None:
    """The request, if it is still there and decided."""
    qr = (
        QuotaRequest.objects.unscoped()
        .select_related("requested_by", "environment__tenant")
        .filter(pk=quota_request_id)
        .first()
    )
    if qr is None or qr.status == RequestStatus.PENDING:
        return None
    return qr


def render(event: OutboxEvent) -> Message | None:
    """No webhook (not a subscribable event); an e-mail to the requester."""
    qr = decided_request(event.payload["quota_request_id"])
    if qr is None:
        return None
    return Message(
        mail_to=[qr.requested_by],
        compose=lambda _user: decision_mail(qr),
        notice=lambda _user: (decision_mail(qr)[0], "/quotas/"),
    )
