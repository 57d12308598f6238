"""High availability: heartbeats, hosts declared down (VMs restarted or in error), fencing."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor, messages
from compute.choices import LIVE_STATES, OperationStatus, RuntimeState, Transition, VMState
from compute.models import Host, Operation, VirtualMachine
from compute.services._common import _operation_begin, _transition
from compute.services.placement import _placement_choose
from portal import events
from portal.audit import audit_record


def heartbeat(*, now: datetime | None = None) -> dict[str, int]:
    """Ask every enabled host whether its libvirtd answers; act on hosts that go or come back.

    A host that misses NUAGE["HA_MISSES"] heartbeats in a row is declared down: its running VMs
    restart on another shared-storage host, or go to error with the reason. A down host that
    answers again is fenced before it rejoins: copies of VMs that now run elsewhere are
    destroyed, so that no guest ever runs twice.
    """
    now = now or timezone.now()
    misses_allowed = int(settings.NUAGE["HA_MISSES"])
    counts = {"up": 0, "missed": 0, "declared_down": 0, "rejoined": 0}
    # Hosts that answer are written together, in one UPDATE: at thousands of hosts, one write
    # per host was most of the cycle.
    answered: list[int] = []
    for host in Host.objects.filter(enabled=True).order_by("pk"):
        try:
            hypervisor.host_alive(host.uri)
        except hypervisor.HypervisorError as exc:
            counts["missed"] += 1
            Host.objects.filter(pk=host.pk).update(
                missed_heartbeats=F("missed_heartbeats") + 1, reachable=False, last_error=str(exc)
            )
            host.refresh_from_db(fields=["missed_heartbeats", "down_since"])
            if host.down_since is None and host.missed_heartbeats >= misses_allowed:
                _host_declare_down(host, now=now, reason=str(exc))
                counts["declared_down"] += 1
            continue
        counts["up"] += 1
        if host.down_since is None:
            answered.append(host.pk)
            continue
        _host_rejoin(host)
        counts["rejoined"] += 1
        with transaction.atomic():
            _host_answered([host.pk], now=now)
            audit_record(actor=None, action="host.up", obj=host)
    _host_answered(answered, now=now)
    return counts


def _host_answered(host_ids: list[int], *, now: datetime) -> None:
    if host_ids:
        Host.objects.filter(pk__in=host_ids).update(
            missed_heartbeats=0, reachable=True, last_error="", last_seen_at=now, down_since=None
        )


def _ha_target(vm: VirtualMachine, down: Host) -> Host | None:
    if not down.shared_storage:
        return None
    try:
        return _placement_choose(vm, exclude=down, shared_pool=down.storage_pool)
    except hypervisor.HypervisorError:
        return None


def _host_declare_down(host: Host, *, now: datetime, reason: str) -> None:
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(down_since=now)
        host.down_since = now
        audit_record(
            actor=None,
            action="host.down",
            obj=host,
            changes={"missed_heartbeats": host.missed_heartbeats, "error": reason},
        )
    for vm in (
        VirtualMachine.objects.unscoped()
        .filter(host=host, state__in=LIVE_STATES)
        .select_related("flavor", "tenant", "image")
    ):
        with transaction.atomic():
            _host_lost_vm(vm, host)


def _host_lost_vm(vm: VirtualMachine, down: Host) -> None:
    """One VM of a host declared down: restart it elsewhere if its disk is reachable, or error."""
    lost = _("Host %(host)s stopped answering.") % {"host": down.name}
    for op in (
        Operation.objects.unscoped()
        .select_for_update()
        .filter(vm=vm, status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
    ):
        op.status, op.error_message, op.finished_at = OperationStatus.FAILED, lost, timezone.now()
        op.save(update_fields=["status", "error_message", "finished_at"])
    target = _ha_target(vm, down)
    if target is None:
        why = (
            _("its disk is on the host's local storage")
            if not down.shared_storage
            else _("no other host with the shared storage has room")
        )
        message = _("%(lost)s The VM cannot be restarted elsewhere: %(why)s.") % {
            "lost": lost,
            "why": why,
        }
        _transition(vm, Transition.HOST_LOST, error_message=message)
        events.emit("vm.error", tenant=vm.tenant, payload=messages.vm_payload(vm))
        audit_record(
            actor=None, action="vm.host_lost", obj=vm, tenant=vm.tenant, changes={"reason": message}
        )
        return
    _transition(vm, Transition.HA_RESTART, host=target, error_message="")
    _operation_begin(vm, requested_by=None)
    audit_record(
        actor=None,
        action="vm.ha_restart",
        obj=vm,
        tenant=vm.tenant,
        changes={"host": [down.name, target.name]},
    )


def _host_rejoin(host: Host) -> None:
    """Fence a host that answers again, before it takes VMs: no guest may run twice."""
    states = hypervisor.domain_runtime_states(host.uri)
    vms = {
        str(vm.uuid): vm for vm in VirtualMachine.objects.unscoped().filter(uuid__in=list(states))
    }
    lost_since = host.down_since
    for uuid, live in states.items():
        vm = vms.get(uuid)
        if vm is None:
            continue  # not Nuage's: the reconciler lists it as an orphan
        if vm.host_id != host.pk or vm.state == VMState.DELETED:
            # It was restarted elsewhere (or deleted) while this host was away; the disk is
            # shared or gone, so only the stale definition goes.
            hypervisor.remove_domain(host.uri, uuid)
            audit_record(actor=None, action="vm.fenced", obj=vm, tenant=vm.tenant)
        elif vm.state == VMState.ERROR and lost_since and vm.state_changed_at >= lost_since:
            # It went to error because this host was lost, and its domain is still here.
            with transaction.atomic():
                running = live == RuntimeState.RUNNING
                _transition(
                    vm,
                    Transition.HOST_BACK_RUNNING if running else Transition.HOST_BACK_STOPPED,
                    error_message="",
                    runtime_state=live,
                )
                audit_record(
                    actor=None,
                    action="vm.host_back",
                    obj=vm,
                    tenant=vm.tenant,
                    changes={"state": [VMState.ERROR, vm.state]},
                )
