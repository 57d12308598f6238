"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compute import balancing, notifications, services
from compute.models import VirtualMachine
from portal.tasks import webhook_deliver


@shared_task(name="compute.operation_advance", acks_late=True, reject_on_worker_lost=True)
def operation_advance(operation_id: int, **_kwargs: Any) -> None:
    if services.operation_advance(operation_id=operation_id):
        operation_advance.delay(operation_id)


@shared_task(name="compute.reconcile")
def reconcile(**_kwargs: Any) -> dict[str, int]:
    return services.reconcile()


@shared_task(name="compute.heartbeat")
def heartbeat(**_kwargs: Any) -> dict[str, int]:
    return services.heartbeat()


@shared_task(name="compute.drs_cycle")
def drs_cycle(**_kwargs: Any) -> dict[str, int | str]:
    return balancing.drs_cycle()


@shared_task(name="compute.notify_vm_event", acks_late=True)
def notify_vm_event(event: str, vm_id: int, event_id: str, **_kwargs: Any) -> None:
    """Webhook deliveries and e-mails of one VM event; a rerun with the same id adds none."""
    vm = (
        VirtualMachine.objects.select_related("tenant", "environment", "owner", "flavor", "host")
        .filter(pk=vm_id)
        .first()
    )
    if vm is None:
        return
    for delivery_id in notifications.deliveries_create(event, vm, event_id):
        webhook_deliver.delay(delivery_id)
    notifications.send_emails(event, vm)


# The name this task had in portal: messages queued before the move still run.
@shared_task(name="portal.notify_event", acks_late=True)
def legacy_notify_event(event: str, vm_id: int, event_id: str, **kwargs: Any) -> None:
    notify_vm_event(event, vm_id, event_id, **kwargs)
