"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compute import balancing, messages, services
from compute.models import VirtualMachine
from portal import events


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


# Queued by a release before the event outbox (the task's name is portal's, where it lived),
# still in the broker during an upgrade: recorded as an outbox event under the id it was given,
# then delivered as any other. It lives here because portal does not import compute.
@shared_task(name="portal.notify_event", acks_late=True)
def notify_event(event: str, vm_id: int, event_id: str, **_kwargs: Any) -> None:
    vm = VirtualMachine.objects.unscoped().filter(pk=vm_id).select_related("tenant").first()
    if vm is not None:
        events.record_legacy(
            event, tenant=vm.tenant, payload=messages.vm_payload(vm), event_id=event_id
        )
