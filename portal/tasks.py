"""Celery tasks of the portal: thin, they take ids and call the event and delivery code."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal import events
from portal.delivery import webhooks


@shared_task(name="portal.event_deliver", acks_late=True)
def event_deliver(event_pk: int, **_kwargs: Any) -> None:
    """Deliver one outbox event (webhooks queued, e-mails sent); a rerun does nothing."""
    events.deliver(event_pk)


@shared_task(name="portal.webhook_deliver", acks_late=True)
def webhook_deliver(delivery_id: int, **_kwargs: Any) -> None:
    wait = webhooks.deliver(delivery_id)
    if wait is not None:
        webhook_deliver.apply_async((delivery_id,), countdown=wait)


@shared_task(name="portal.webhook_redeliver")
def webhook_redeliver(**_kwargs: Any) -> int:
    """Periodic (beat): send again the deliveries and the outbox events a lost task left."""
    stale = webhooks.redeliver_stale()
    for delivery_id in stale:
        webhook_deliver.delay(delivery_id)
    undelivered = events.redeliver_stale()
    for event_pk in undelivered:
        event_deliver.delay(event_pk)
    return len(stale) + len(undelivered)


# Queued by releases before the outbox, still in the broker during an upgrade: recorded as
# outbox events with the event id they were given, then delivered as any other.


@shared_task(name="portal.notify_event", acks_late=True)
def notify_event(event: str, vm_id: int, event_id: str, **_kwargs: Any) -> None:
    from compute.models import VirtualMachine

    vm = VirtualMachine.objects.unscoped().filter(pk=vm_id).select_related("tenant").first()
    if vm is not None:
        events.record_legacy(event, tenant=vm.tenant, payload={"vm_id": vm_id}, event_id=event_id)


@shared_task(name="portal.notify_tenant_event", acks_late=True)
def notify_tenant_event(
    event: str, tenant_id: int, event_id: str, data: dict[str, Any], **_kwargs: Any
) -> None:
    from portal.models import Tenant

    tenant = Tenant.objects.unscoped().filter(pk=tenant_id).first()
    if tenant is not None:
        events.record_legacy(event, tenant=tenant, payload=data, event_id=event_id)
