"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from compute import balancing, messages, services
from compute.models import Host, Network, VirtualMachine
from compute.services import networks
from portal import events


@shared_task(name="compute.operation_advance", acks_late=True, reject_on_worker_lost=True)
def operation_advance(operation_id: int, **_kwargs: Any) -> None:
    # Consecutive quick steps in one task: one broker round trip per operation, not per step.
    if services.operation_advance(
        operation_id=operation_id,
        max_steps=settings.NUAGE["STEP_BATCH"],
        budget_seconds=settings.NUAGE["STEP_BATCH_SECONDS"],
    ):
        operation_advance.delay(operation_id)


@shared_task(name="compute.volume_advance", acks_late=True, reject_on_worker_lost=True)
def volume_advance(volume_id: int, **_kwargs: Any) -> None:
    if services.volume_advance(volume_id=volume_id):
        volume_advance.delay(volume_id)


@shared_task(name="compute.network_ensure", acks_late=True)
def network_ensure(network_id: int, host_id: int, replaces: str = "", **_kwargs: Any) -> str:
    """A nat or isolated network on one host (after removing the libvirt network it
    `replaces`, on a change); the outcome is recorded on the network."""
    network = Network.objects.filter(pk=network_id).first()
    host = Host.objects.filter(pk=host_id).first()
    if network is None or host is None:
        return "gone"
    try:
        return networks.network_host_ensure(network=network, host=host, replaces=replaces)
    except services.HypervisorError as exc:  # recorded on the network; a retry will not help
        return str(exc)


@shared_task(name="compute.network_remove", acks_late=True)
def network_remove(libvirt_name: str, host_id: int, **_kwargs: Any) -> bool:
    host = Host.objects.filter(pk=host_id).first()
    return host is not None and networks.network_host_remove(libvirt_name=libvirt_name, host=host)


@shared_task(name="compute.reconcile")
def reconcile(**_kwargs: Any) -> dict[str, int]:
    return services.reconcile()


@shared_task(name="compute.heartbeat")
def heartbeat(**_kwargs: Any) -> dict[str, int]:
    return services.heartbeat()


@shared_task(name="compute.snapshot_schedules_run")
def snapshot_schedules_run(**_kwargs: Any) -> dict[str, int]:
    return services.snapshot_schedules_run()


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


@shared_task(name="compute.export_run", acks_late=True, reject_on_worker_lost=True)
def export_run(job_id: int, **_kwargs: Any) -> str:
    from compute.services import ovf

    return ovf.export_run(job_id=job_id)


@shared_task(name="compute.export_sweep")
def export_sweep(**_kwargs: Any) -> dict[str, int]:
    from compute.services import ovf

    return ovf.export_sweep()


@shared_task(name="compute.import_run", acks_late=True, reject_on_worker_lost=True)
def import_run(job_id: int, **_kwargs: Any) -> str:
    from compute.services import ovf_import

    return ovf_import.import_run(job_id=job_id)


@shared_task(name="compute.import_sweep")
def import_sweep(**_kwargs: Any) -> dict[str, int]:
    from compute.services import ovf_import

    return ovf_import.import_sweep()


@shared_task(name="compute.vm_power_off", acks_late=True)
def vm_power_off(vm_id: int, host_id: int | None, **_kwargs: Any) -> bool:
    """ "Force off" while a stop waits for the guest: power the domain off now (the waiting step
    sees it off and finishes). Idempotent: a domain already off is left alone."""
    return services.vm_power_off_now(vm_id=vm_id, host_id=host_id)


@shared_task(name="compute.leases_run")
def leases_run(**_kwargs: Any) -> dict[str, int]:
    """Lease policies reach VMs, warnings, expiries and deletions (compute/services/leases.py)."""
    result = services.leases_run()
    return dict(vars(result))
