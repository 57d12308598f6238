"""The reconciler: re-dispatches stalled operations, fails lost ones, reads live state."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import (
    TRANSITIONAL_STATES,
    OperationStatus,
    RuntimeState,
    Transition,
    VMKind,
    VMState,
)
from compute.ipam import nics_release
from compute.models import Host, Operation, VirtualMachine
from compute.ports import quota_release
from compute.services._common import _dispatch, _transition, operation_claim
from compute.services.maintenance import host_evacuate, rolling_maintenance_advance
from compute.services.operations import operation_fail
from compute.services.volumes import volumes_reconcile
from portal.audit import audit_record
from portal.errors import ConflictError


def _domain_vanished(vm: VirtualMachine, host: Host) -> int:
    message = _("The VM's domain disappeared from host %(host)s.") % {"host": host.name}
    with transaction.atomic():
        try:
            _transition(vm, Transition.DOMAIN_VANISHED, error_message=message)
        except ConflictError:
            return 0  # it moved on meanwhile (an operation started)
        audit_record(actor=None, action="vm.domain_vanished", obj=vm, tenant=vm.tenant, changes={})
    return 1


def _container_stopped(vm: VirtualMachine, host: Host) -> int:
    """A running container whose domain is shut off: its init ended (or was killed). Unlike a
    VM's guest, nothing restarts it: it is stopped, and its CPU and memory are no longer
    charged from this instant."""
    message = _("The container stopped by itself on host %(host)s.") % {"host": host.name}
    with transaction.atomic():
        try:
            _transition(
                vm, Transition.DOMAIN_STOPPED, error_message=message, runtime_state="shutoff"
            )
        except ConflictError:
            return 0  # it moved on meanwhile (an operation started)
        audit_record(actor=None, action="vm.domain_stopped", obj=vm, tenant=vm.tenant, changes={})
    return 1


def _hosts_listed(*, now: datetime) -> dict[str, int]:
    """Read every enabled host's domains and compare them with the VMs placed there: runtime
    states, domains that vanished, domains Nuage does not know (orphans).

    The database is read and written a fixed number of times whatever the number of hosts
    (one read of the placed VMs, one of the migrations' targets, one UPDATE per runtime state
    that changed, one for every host without orphans); only what is news costs more.
    """
    counts = {"runtime_updated": 0, "vanished": 0, "orphans": 0, "containers_stopped": 0}
    listings: dict[int, tuple[datetime, list[tuple[str, str, str]]]] = {}
    hosts = {host.pk: host for host in Host.objects.filter(enabled=True).order_by("pk")}
    for host in hosts.values():
        listed_at = timezone.now()
        try:
            listings[host.pk] = (listed_at, hypervisor.domain_list(host.uri))
        except hypervisor.HypervisorError as exc:
            Host.objects.filter(pk=host.pk).update(reachable=False, last_error=str(exc))
    if not listings:
        return counts
    first_listed_at = min(at for at, _domains in listings.values())
    live_states = {
        host_id: {uuid: state for uuid, _name, state in domains}
        for host_id, (_at, domains) in listings.items()
    }
    known: dict[int, set[str]] = {pk: set() for pk in listings}
    changed: dict[str, list[int]] = {}
    vanished: list[int] = []
    stopped: list[int] = []
    # What a host says is only news for VMs whose state is older than its listing: a VM that a
    # worker provisioned, started or moved meanwhile is judged on the next cycle.
    for pk, vm_uuid, host_id, state, runtime, state_changed_at, kind in (
        VirtualMachine.objects.unscoped()
        .filter(host_id__in=list(listings))
        .exclude(state=VMState.DELETED)
        .values_list("pk", "uuid", "host_id", "state", "runtime_state", "state_changed_at", "kind")
        .order_by()
    ):
        uuid = str(vm_uuid)
        known[host_id].add(uuid)
        if state == VMState.MIGRATING or state_changed_at >= listings[host_id][0]:
            continue
        live = live_states[host_id].get(uuid, RuntimeState.NO_DOMAIN)
        if live != runtime:
            changed.setdefault(live, []).append(pk)
        if live == RuntimeState.NO_DOMAIN and state in (VMState.RUNNING, VMState.STOPPED):
            vanished.append(pk)
        elif (
            kind == VMKind.CONTAINER
            and state == VMState.RUNNING
            and live in (RuntimeState.SHUTOFF, RuntimeState.CRASHED)
        ):
            stopped.append(pk)
    for live, pks in changed.items():
        counts["runtime_updated"] += (
            VirtualMachine.objects.unscoped()
            .filter(pk__in=pks)
            .update(runtime_state=live, runtime_checked_at=now)
        )
    for vm in VirtualMachine.objects.unscoped().filter(pk__in=vanished).select_related("tenant"):
        listed_on = hosts.get(vm.host_id or 0)
        if listed_on is not None:  # else it has left the host since (not news)
            counts["vanished"] += _domain_vanished(vm, listed_on)
    for vm in VirtualMachine.objects.unscoped().filter(pk__in=stopped).select_related("tenant"):
        listed_on = hosts.get(vm.host_id or 0)
        if listed_on is not None:
            counts["containers_stopped"] += _container_stopped(vm, listed_on)
    for target_id, vm_uuid in (
        Operation.objects.unscoped()
        .filter(
            target_host_id__in=list(listings),
            status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
        )
        .values_list("target_host_id", "vm__uuid")
    ):
        known[target_id].add(str(vm_uuid))
    orphans = {
        host_id: [
            {"uuid": uuid, "name": name, "state": state}
            for uuid, name, state in domains
            if uuid not in known[host_id]
        ]
        for host_id, (_at, domains) in listings.items()
    }
    if any(orphans.values()):
        # A VM whose state changed after the listings (created, moved, deleted) is not news.
        recent = {
            str(u)
            for u in VirtualMachine.objects.unscoped()
            .filter(
                uuid__in=[o["uuid"] for found in orphans.values() for o in found],
                state_changed_at__gte=first_listed_at,
            )
            .values_list("uuid", flat=True)
        }
        orphans = {h: [o for o in found if o["uuid"] not in recent] for h, found in orphans.items()}
    fine = [host_id for host_id, found in orphans.items() if not found]
    Host.objects.filter(pk__in=fine).update(
        reachable=True, last_error="", last_seen_at=now, orphan_domains=[]
    )
    for host_id, found in orphans.items():
        if found:
            counts["orphans"] += len(found)
            Host.objects.filter(pk=host_id).update(
                reachable=True, last_error="", last_seen_at=now, orphan_domains=found
            )
    return counts


def reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Repair what a lost message or a crashed worker left behind, and read live state."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.NUAGE["STALE_SECONDS"])
    max_attempts = settings.NUAGE["MAX_ATTEMPTS"]
    counts = {
        "redispatched": 0,
        "failed": 0,
        "runtime_updated": 0,
        "orphaned_states": 0,
        "evacuations": 0,
        "vanished": 0,
        "orphans": 0,
        "containers_stopped": 0,
    }

    stale = (
        Operation.objects.unscoped()
        .filter(
            status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
            progressed_at__lt=stale_before,
        )
        .values_list("id", flat=True)
    )
    for op_id in list(stale):
        with operation_claim(op_id, wait=False) as free:
            pass  # only asked: a redispatched message must find the claim free
        if not free:
            continue  # a worker is running one of its steps (a live migration takes minutes)
        with transaction.atomic():
            op = (
                Operation.objects.unscoped()
                .select_for_update(skip_locked=True)
                .filter(pk=op_id, progressed_at__lt=stale_before)
                .first()
            )
            if op is None:
                continue  # a worker holds it right now, or it moved on
            if op.attempts >= max_attempts:
                give_up = True
            else:
                give_up = False
                op.attempts += 1
                op.progressed_at = now
                op.save(update_fields=["attempts", "progressed_at"])
                _dispatch(op.id)
                counts["redispatched"] += 1
        if give_up:
            operation_fail(
                operation_id=op_id,
                reason=_("The operation made no progress after %(n)s attempts.")
                % {"n": max_attempts},
            )
            counts["failed"] += 1

    # A transitional VM must always have an active operation; one without is stuck for good.
    for vm in (
        VirtualMachine.objects.unscoped()
        .filter(state__in=TRANSITIONAL_STATES, state_changed_at__lt=stale_before)
        .exclude(operations__status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
    ):
        with transaction.atomic():
            never_ran = vm.state == VMState.PROVISIONING
            try:
                _transition(vm, Transition.FAIL, error_message=_("The operation was lost."))
            except ConflictError:
                continue
            quota_release(vm=vm, reserved_only=True)  # a provisioning that never ran
            if never_ran:
                nics_release(vm=vm)
            counts["orphaned_states"] += 1

    counts.update(_hosts_listed(now=now))

    # VMs left on a host in maintenance (no room then, or busy) are moved as soon as they can be.
    for host in Host.objects.filter(maintenance=True, reachable=True):
        counts["evacuations"] += host_evacuate(host=host)["started"]
    rolling_maintenance_advance(now=now)
    counts.update(volumes_reconcile(now=now))
    return counts
