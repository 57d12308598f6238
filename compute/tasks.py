"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compute import balancing, services


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
