"""Thin Celery tasks of the quotas app: the drift check and the requester's notification."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import gettext as _

from quotas import services
from quotas.choices import RequestStatus, Resource
from quotas.models import QuotaRequest


@shared_task(name="quotas.drift_check")
def drift_check(**kwargs: Any) -> int:
    """Periodic (beat): counters against a recount; each difference is logged as an error."""
    return len(services.quota_drift_check())


@shared_task(name="quotas.request_notify", acks_late=True)
def quota_request_notify(request_id: int, **kwargs: Any) -> bool:
    """Tell the requester how their quota request was decided (once per decision)."""
    qr = (
        QuotaRequest.objects.select_related("requested_by", "environment__tenant")
        .filter(pk=request_id)
        .first()
    )
    if qr is None or qr.status == RequestStatus.PENDING or not qr.requested_by.email:
        return False
    granted = ", ".join(f"+{n} {Resource(r).label}" for r, n in qr.granted.items()) or "-"
    subject = _("Your quota request for %(env)s: %(status)s") % {
        "env": str(qr.environment),
        "status": qr.get_status_display(),
    }
    body = _("Granted: %(granted)s\nReason given: %(reason)s\n") % {
        "granted": granted,
        "reason": qr.decision_reason or "-",
    }
    send_mail(
        subject,
        body,
        getattr(settings, "DEFAULT_FROM_EMAIL", None),
        [qr.requested_by.email],
    )
    return True
