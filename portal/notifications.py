"""Events out of Nuage: e-mails to the people concerned and signed webhooks per tenant.

VM events (`compute.notifications.emit`) concern one VM; tenant events (`emit_tenant`, such as
`budget.threshold`) concern the tenant as a whole and carry their own data. Both are called
inside the caller's transaction; everything else runs after the commit, in Celery tasks: an
event of a rolled-back change is never sent. This module holds what every event uses (who is
told, deliveries, signatures, retries); the VM's own payload and e-mails live in compute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from portal.models import Membership, Tenant, User, Webhook, WebhookDelivery
from portal.permissions import ROLE_PERMS, Perm

logger = logging.getLogger(__name__)

VM_EVENTS = ("vm.pending_approval", "vm.approved", "vm.rejected", "vm.running", "vm.error")
TENANT_EVENTS = ("budget.threshold",)
EVENTS = VM_EVENTS + TENANT_EVENTS  # what a webhook may subscribe to
TEST_EVENT = "ping"
SIGNATURE_HEADER = "X-Nuage-Signature"


def emit_tenant(event: str, *, tenant: Tenant, data: dict[str, Any]) -> None:
    """Announce a tenant event (JSON-ready `data`) once the current transaction commits."""
    from portal.tasks import notify_tenant_event

    if event not in TENANT_EVENTS:
        raise ValueError(f"Unknown tenant event {event}")
    event_id = str(uuid.uuid4())
    transaction.on_commit(lambda: notify_tenant_event.delay(event, tenant.pk, event_id, data))


def tenant_payload(
    event: str, tenant: Tenant, event_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": event,
        "id": event_id,
        "sent_at": timezone.now().isoformat(),
        "tenant": tenant.slug,
        **data,
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- e-mail -----------------------------------------------------------------------------------


def tenant_approvers(tenant: Tenant, *, but: int | None = None) -> list[User]:
    """The tenant's approvers and admins with an address (but the user `but`)."""
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.VM_APPROVE in perms]
    return [
        m.user
        for m in Membership.objects.select_related("user").filter(tenant=tenant, role__in=roles)
        if m.user.email and m.user.is_active and m.user_id != but
    ]


def _tenant_mail(event: str, tenant: Tenant, data: dict[str, Any]) -> tuple[str, str]:
    """The e-mail of a tenant event; only `budget.threshold` so far."""
    budget = data["budget"]
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
    link = f"{settings.NUAGE['BASE_URL'].rstrip('/')}/costs/"
    return subject, f"{text}\n\n{link}\n"


def send_tenant_emails(event: str, tenant: Tenant, data: dict[str, Any]) -> int:
    """Tenant events go to the tenant's admins and approvers, each in their language."""
    sent = 0
    for user in tenant_approvers(tenant):
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            subject, body = _tenant_mail(event, tenant, data)
        sent += send_mail(subject, body, None, [user.email], fail_silently=False)
    return sent


# --- webhooks ---------------------------------------------------------------------------------


def tenant_deliveries_create(
    event: str, tenant: Tenant, event_id: str, data: dict[str, Any]
) -> list[int]:
    body = json.dumps(tenant_payload(event, tenant, event_id, data), sort_keys=True)
    return webhook_deliveries_create(event, tenant, event_id, body)


def webhook_deliveries_create(event: str, tenant: Tenant, event_id: str, body: str) -> list[int]:
    created = []
    for hook in Webhook.objects.filter(tenant=tenant, enabled=True):
        if not hook.wants(event):
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    webhook=hook, event=event, event_id=event_id, body=body
                )
        except IntegrityError:
            continue  # this event was already queued for this webhook
        created.append(delivery.pk)
    return created


def deliver(delivery_id: int) -> float | None:
    """Attempt one delivery; return the seconds to wait before the next try, or None if done."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("webhook")
            .get(pk=delivery_id)
        )
        if delivery.status != WebhookDelivery.Status.PENDING:
            return None
        delivery.attempts += 1
        attempt = delivery.attempts
        delivery.save(update_fields=["attempts"])
    hook = delivery.webhook
    body = delivery.body.encode()
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked at creation
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Nuage-Webhook/1",
            "X-Nuage-Event": delivery.event,
            "X-Nuage-Delivery": str(delivery.event_id),
            SIGNATURE_HEADER: sign(hook.secret, body),
        },
    )
    code: int | None = None
    excerpt, error = "", ""
    try:
        timeout = float(settings.NUAGE["WEBHOOK_TIMEOUT_SECONDS"])
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            code = response.status
            excerpt = response.read(500).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
        excerpt = exc.read(500).decode(errors="replace")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        error = _("No answer: %(reason)s") % {"reason": reason}
    ok = code is not None and 200 <= code < 300
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_status_code": code,
        "last_error": "" if ok else error,
        "response_excerpt": excerpt,
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
    WebhookDelivery.objects.filter(pk=delivery_id).update(**fields)
    return wait


def redeliver_stale(*, now: Any = None) -> list[int]:
    """Deliveries whose retry is overdue (a lost message, a worker that died): send them again."""
    now = now or timezone.now()
    grace = timedelta(seconds=120)
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).filter(
        models.Q(next_attempt_at__lt=now - grace)
        | models.Q(next_attempt_at__isnull=True, created_at__lt=now - grace)
    )
    return list(due.values_list("pk", flat=True))
