"""The event outbox: the one way Nuage tells the outside world that something happened.

A service calls `emit(kind, tenant=..., payload=...)` inside its own transaction; the event is
a row (`OutboxEvent`) written with the change, so an event of a rolled-back change never
exists. After the commit one Celery task (`portal.event_deliver`) hands it to the delivery
modules: `portal.delivery.webhooks` (signed, retried, logged) and `portal.delivery.mail`. What
an event says is its app's business: each app registers the kinds it emits with a renderer in
its AppConfig.ready (VM texts in compute/messages.py, budgets in billing/messages.py, quota
decisions in quotas/messages.py). The periodic sweep sends again what a lost task left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from portal.delivery import mail, webhooks
from portal.models import OutboxEvent, Tenant, User
from portal.notifications import notify

logger = logging.getLogger(__name__)

# An event is given up after this many delivery attempts (each one a task run).
MAX_ATTEMPTS = 5
# How long an undelivered event waits before the sweep sends it again.
STALE_AFTER = timedelta(seconds=120)


@dataclass(frozen=True)
class Message:
    """What one event says: its webhook data and its e-mail, or None for no webhook/e-mail;
    and its in-app notification (`notice`: the text and the page, composed under each
    recipient's language) for `notify_to`, or for `mail_to` when that is None."""

    webhook: dict[str, Any] | None = None
    mail_to: list[User] = field(default_factory=list)
    compose: mail.Compose | None = None
    notice: Callable[[User], tuple[str, str]] | None = None
    notify_to: list[User] | None = None


# Builds the message of an event when it is delivered (so it shows the objects as they are after
# the commit), or None when there is nothing left to tell (the object is gone).
Renderer = Callable[[OutboxEvent], Message | None]


@dataclass(frozen=True)
class Kind:
    name: str
    render: Renderer
    webhook: bool  # whether webhooks may subscribe to it


_KINDS: dict[str, Kind] = {}


def register(names: Iterable[str], render: Renderer, *, webhook: bool = True) -> None:
    """Declare event kinds and how to render them (from an AppConfig.ready)."""
    for name in names:
        _KINDS[name] = Kind(name=name, render=render, webhook=webhook)


def webhook_kinds() -> tuple[str, ...]:
    """The events a webhook may subscribe to, in the order the apps registered them."""
    return tuple(name for name, kind in _KINDS.items() if kind.webhook)


def emit(kind: str, *, tenant: Tenant, payload: dict[str, Any]) -> OutboxEvent:
    """Record an event in the current transaction; it is delivered once that commits."""
    event = event_new(kind, tenant=tenant, payload=payload)
    event.save(force_insert=True)
    deliver_on_commit(event)
    return event


def event_new(kind: str, *, tenant: Tenant, payload: dict[str, Any]) -> OutboxEvent:
    """`emit`'s event, not yet saved: for a service that inserts it with its other rows in
    one statement (portal.bulk.insert_linked), then calls `deliver_on_commit`."""
    if kind not in _KINDS:
        raise ValueError(f"Unknown event kind {kind}")
    return OutboxEvent(kind=kind, tenant=tenant, payload=payload)


def deliver_on_commit(event: OutboxEvent) -> None:
    """Publish the saved event's delivery once the current transaction commits (after what
    was published on commit before it, before what is published after)."""
    from portal.tasks import event_deliver  # tasks import this module

    event_pk = event.pk
    assert event_pk is not None, "save the event first"
    transaction.on_commit(lambda: event_deliver.delay(event_pk))


def deliver(event_pk: int) -> None:
    """Deliver one event: its webhook deliveries are queued and its e-mails sent, once.

    The row lock and `delivered_at` make a second run (a redelivered task, the sweep) a no-op;
    an e-mail failure rolls the whole delivery back for the sweep to try again.
    """
    from portal.tasks import webhook_deliver

    # Counted in its own commit, so that an attempt that fails still counts.
    undelivered = OutboxEvent.objects.unscoped().filter(pk=event_pk, delivered_at__isnull=True)
    if not undelivered.update(attempts=F("attempts") + 1):
        return
    try:
        with transaction.atomic():
            event = (
                OutboxEvent.objects.unscoped()
                .select_for_update()
                .select_related("tenant")
                .get(pk=event_pk)
            )
            if event.delivered_at is not None:
                return
            message = _KINDS[event.kind].render(event)
            created: list[int] = []
            if message is not None:
                if message.webhook is not None:
                    event_id = str(event.event_id)
                    text = webhooks.body(
                        event.kind, tenant=event.tenant, event_id=event_id, data=message.webhook
                    )
                    created = webhooks.deliveries_create(event.kind, event.tenant, event_id, text)
                if message.compose is not None:
                    mail.send(message.mail_to, message.compose)
                if message.notice is not None:
                    _notify(event, message)
            event.delivered_at = timezone.now()
            event.last_error = ""
            event.save(update_fields=["delivered_at", "last_error"])
            for delivery_pk in created:
                transaction.on_commit(partial(webhook_deliver.delay, delivery_pk))
    except Exception as exc:
        OutboxEvent.objects.unscoped().filter(pk=event_pk).update(last_error=str(exc)[:2000])
        raise


def _notify(event: OutboxEvent, message: Message) -> None:
    """The event's in-app notifications, once per recipient (keyed by the event: a delivery
    that rolls back and runs again adds none twice)."""
    notice = message.notice
    assert notice is not None
    recipients = message.notify_to if message.notify_to is not None else message.mail_to
    for user in {u.pk: u for u in recipients if u.is_active}.values():
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            text, url = notice(user)
        notify(
            user=user,
            kind=event.kind,
            text=text,
            url=url,
            tenant=event.tenant,
            key=f"event:{event.event_id}",
        )


def redeliver_stale(*, now: datetime | None = None) -> list[int]:
    """Events still undelivered a while after they were recorded (a lost task, a failed
    e-mail), short of their last attempt."""
    now = now or timezone.now()
    due = OutboxEvent.objects.unscoped().filter(
        delivered_at__isnull=True, created_at__lt=now - STALE_AFTER, attempts__lt=MAX_ATTEMPTS
    )
    return list(due.values_list("pk", flat=True))


def record_legacy(kind: str, *, tenant: Tenant, payload: dict[str, Any], event_id: str) -> None:
    """An event announced by a release before the outbox (its task still queued): recorded
    under the id it was given, once, and delivered now."""
    event, _created = OutboxEvent.objects.unscoped().get_or_create(
        event_id=event_id, defaults={"kind": kind, "tenant": tenant, "payload": payload}
    )
    deliver(event.pk)
