"""Webhook delivery: one signed POST per interested webhook, retried with backoff, every attempt
kept in the delivery log (WebhookDelivery)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import metrics
from portal.delivery import safeurl
from portal.models import Tenant, Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

TEST_EVENT = "ping"
SIGNATURE_HEADER = "X-Nuage-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body(kind: str, *, tenant: Tenant, event_id: str, data: dict[str, Any]) -> str:
    """The JSON every receiver gets: the event, its id, when it was sent, the tenant, and the
    event's own data (a `vm` object, a `budget` object...)."""
    return json.dumps(
        {
            "event": kind,
            "id": event_id,
            "sent_at": timezone.now().isoformat(),
            "tenant": tenant.slug,
            **data,
        },
        sort_keys=True,
    )


def deliveries_create(kind: str, tenant: Tenant, event_id: str, body: str) -> list[int]:
    """One delivery per interested webhook; a rerun with the same event id adds none."""
    created = []
    for hook in Webhook.objects.unscoped().filter(tenant=tenant, enabled=True):
        if not hook.wants(kind):
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    webhook=hook, event=kind, event_id=event_id, body=body
                )
        except IntegrityError:
            continue  # this event was already queued for this webhook
        created.append(delivery.pk)
    return created


def deliver(delivery_id: int) -> float | None:
    """Attempt one delivery; return the seconds to wait before the next try, or None if done."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.unscoped()
            .select_for_update()
            .select_related("webhook")
            .get(pk=delivery_id)
        )
        if delivery.status != WebhookDelivery.Status.PENDING:
            return None
        delivery.attempts += 1
        attempt = delivery.attempts
        delivery.save(update_fields=["attempts"])
    hook = delivery.webhook
    data = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Nuage-Webhook/1",
        "X-Nuage-Event": delivery.event,
        "X-Nuage-Delivery": str(delivery.event_id),
        SIGNATURE_HEADER: sign(hook.secret, data),
    }
    # Pinned to the address checked, no redirect, no proxy; only the status code is kept (a
    # receiver's answer body is never read, stored or shown).
    code: int | None = None
    error, failure = "", ""
    try:
        timeout = float(settings.NUAGE["WEBHOOK_TIMEOUT_SECONDS"])
        code = safeurl.post(hook.url, data, headers, timeout=timeout).status
        if not 200 <= code < 300:
            error, failure = f"HTTP {code}", "http"
    except safeurl.RefusedAddress:
        error, failure = _("Refused: webhooks go to public addresses only."), "refused"
    except OSError as exc:  # refused connection, timeout, TLS, DNS
        error, failure = _("No answer: %(reason)s") % {"reason": exc}, "network"
    ok = not failure
    if failure:
        metrics.WEBHOOK_FAILURES.labels(reason=failure).inc()
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_status_code": code,
        "last_error": "" if ok else error,
        "response_excerpt": "",
    }
    wait: float | None = None
    if ok:
        fields.update(
            status=WebhookDelivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None
        )
    elif attempt >= int(settings.NUAGE["WEBHOOK_MAX_ATTEMPTS"]):
        fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        logger.warning(
            "webhook delivery %s failed for good after %s attempts", delivery_id, attempt
        )
    else:
        wait = float(settings.NUAGE["WEBHOOK_BACKOFF_SECONDS"]) * 2 ** (attempt - 1)
        fields["next_attempt_at"] = now + timedelta(seconds=wait)
    WebhookDelivery.objects.unscoped().filter(pk=delivery_id).update(**fields)
    return wait


def redeliver_stale(*, now: datetime | None = None) -> list[int]:
    """Deliveries whose retry is overdue (a lost message, a worker that died): send them again."""
    now = now or timezone.now()
    grace = timedelta(seconds=120)
    due = (
        WebhookDelivery.objects.unscoped()
        .filter(status=WebhookDelivery.Status.PENDING)
        .filter(
            models.Q(next_attempt_at__lt=now - grace)
            | models.Q(next_attempt_at__isnull=True, created_at__lt=now - grace)
        )
    )
    return list(due.values_list("pk", flat=True))
