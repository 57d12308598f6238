"""Celery tasks of the portal: thin, they take ids and call the notification code."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal import notifications


@shared_task(name="portal.notify_tenant_event", acks_late=True)
def notify_tenant_event(
    event: str, tenant_id: int, event_id: str, data: dict[str, Any], **_kwargs: Any
) -> None:
    from portal.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    for delivery_id in notifications.tenant_deliveries_create(event, tenant, event_id, data):
        webhook_deliver.delay(delivery_id)
    notifications.send_tenant_emails(event, tenant, data)


@shared_task(name="portal.webhook_deliver", acks_late=True)
def webhook_deliver(delivery_id: int, **_kwargs: Any) -> None:
    wait = notifications.deliver(delivery_id)
    if wait is not None:
        webhook_deliver.apply_async((delivery_id,), countdown=wait)


@shared_task(name="portal.webhook_redeliver")
def webhook_redeliver(**_kwargs: Any) -> int:
    stale = notifications.redeliver_stale()
    for delivery_id in stale:
        webhook_deliver.delay(delivery_id)
    return len(stale)
