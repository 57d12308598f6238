"""Thin Celery tasks of the quotas app: the drift check (decisions are told through the outbox,
portal.events)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal.delivery import mail
from quotas import messages, services


@shared_task(name="quotas.drift_check")
def drift_check(**kwargs: Any) -> int:
    """Periodic (beat): counters against a recount; each difference is logged as an error."""
    return len(services.quota_drift_check())


@shared_task(name="quotas.request_notify", acks_late=True)
def quota_request_notify(request_id: int, **kwargs: Any) -> bool:
    """Queued by releases before the outbox (still in the broker during an upgrade): tell the
    requester how their quota request was decided."""
    qr = messages.decided_request(request_id)
    if qr is None:
        return False
    return mail.send([qr.requested_by], lambda _user: messages.decision_mail(qr)) > 0
