"""The usage ledger: events appended as VMs change state, and what the database derives of them.

Compute calls `usage_record_transition` inside the transaction that changes a VM's state. The
ledger is append-only (a trigger refuses UPDATE and DELETE, migration 0002) and it is the only
source of truth for billing. Its projection, `UsageInterval` (each stretch of a VM's life in one
charging state), is kept by a statement trigger on PostgreSQL in the same transaction as every
insert, under a per-VM advisory lock (migrations 0008 and 0009); nothing else writes it. Rating
(billing/rating/) values either the events themselves (the Python reference) or the intervals
(the SQL path).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from billing.choices import UsageKind
from billing.models import UsageEvent, VolumeUsageEvent
from compute.choices import Transition, VMState
from compute.models import Snapshot, VirtualMachine, Volume
from portal.bulk import insert_linked

# Which charges a lifecycle transition starts or stops. Requests (stop, start, delete) change
# nothing: a VM is charged until the hypervisor has actually stopped or removed it.
_KINDS_AFTER: dict[str, tuple[str, ...]] = {
    Transition.PROVISIONED: (UsageKind.CREATED, UsageKind.STARTED),
    Transition.STARTED: (UsageKind.STARTED,),
    Transition.STOPPED: (UsageKind.STOPPED,),
    Transition.DELETED: (UsageKind.DELETED,),
    # A VM in error is not usable: CPU and RAM stop, its disk is charged until it is deleted.
    Transition.FAIL: (UsageKind.STOPPED,),
    # Its host died (and the VM could not restart elsewhere) or its domain vanished: the same.
    Transition.HOST_LOST: (UsageKind.STOPPED,),
    Transition.DOMAIN_VANISHED: (UsageKind.STOPPED,),
    # A container whose init ended: stopped, as if asked.
    Transition.DOMAIN_STOPPED: (UsageKind.STOPPED,),
    # The host came back with the guest still running: charged again from then on.
    Transition.HOST_BACK_RUNNING: (UsageKind.STARTED,),
    # A domain adopted into Nuage is charged from its adoption.
    Transition.ADOPT_RUNNING: (UsageKind.CREATED, UsageKind.STARTED),
    Transition.ADOPT_STOPPED: (UsageKind.CREATED,),
    # Reverting to a snapshot taken running starts the guest; one taken stopped stops it.
    Transition.SNAPSHOT_REVERTED_RUNNING: (UsageKind.STARTED,),
    Transition.SNAPSHOT_REVERTED_STOPPED: (UsageKind.STOPPED,),
    # A resize: the new allocation from this second on (the VM row holds the new flavor).
    Transition.RESIZED: (UsageKind.RESIZED,),
    # Live migration and an HA restart keep the VM's charges running: same VM, another host.
}


def usage_event_key(vm: VirtualMachine, cause: str, at: datetime, kind: str) -> str:
    """The identity of one fact: the VM, what caused it and when, and which charge it moves."""
    return f"{vm.uuid}:{cause}@{at.isoformat()}:{kind}"


def usage_event_record(
    *,
    vm: VirtualMachine,
    kind: str,
    at: datetime,
    cause: str,
    snapshot_ref: str = "",
    snapshot_gib: int = 0,
) -> None:
    """Append one event (INSERT … ON CONFLICT DO NOTHING): recording it again changes nothing."""
    event = _usage_event(
        vm=vm, kind=kind, at=at, cause=cause, snapshot_ref=snapshot_ref, snapshot_gib=snapshot_gib
    )
    insert_linked((event, {}), ignore_conflicts=[0])  # prepared (portal/bulk.py)


def _usage_event(
    *, vm: VirtualMachine, kind: str, at: datetime, cause: str, snapshot_ref: str, snapshot_gib: int
) -> UsageEvent:
    flavor = vm.flavor
    return UsageEvent(
        key=usage_event_key(vm, cause, at, kind),
        vm=vm,
        tenant_id=vm.tenant_id,
        environment_id=vm.environment_id,
        kind=kind,
        at=at,
        vcpus=flavor.vcpus,
        ram_mib=flavor.ram_mib,
        disk_gib=flavor.disk_gib,
        flavor=flavor,
        snapshot_ref=snapshot_ref,
        snapshot_gib=snapshot_gib,
    )


def usage_record_transition(
    *, vm: VirtualMachine, transition: str, previous_state: str, at: datetime
) -> None:
    """Record the charges a transition starts or stops, at the instant of the state change."""
    kinds = _KINDS_AFTER.get(transition, ())
    if not kinds:
        return
    if transition in (Transition.FAIL, Transition.HOST_LOST) and previous_state == (
        VMState.PROVISIONING
    ):
        return  # a failed provisioning is undone: nothing was ever charged
    if transition == Transition.DELETED and vm.host_id is None:
        return  # a withdrawn request, or a provisioning already undone: nothing existed
    # One INSERT for all of them (provisioned: created and started).
    events = [
        _usage_event(vm=vm, kind=kind, at=at, cause=transition, snapshot_ref="", snapshot_gib=0)
        for kind in kinds
    ]
    insert_linked(*[(event, {}) for event in events], ignore_conflicts=range(len(events)))


def snapshot_vm_ids(tenant_ids: Sequence[int], *, end: datetime) -> list[int]:
    """VMs of these tenants with a snapshot event before `end` (the intervals do not follow
    snapshots, so rating replays these VMs' events); found through a partial index."""
    rows = UsageEvent.objects.unscoped().filter(
        tenant_id__in=list(tenant_ids),
        at__lt=end,
        kind__in=[UsageKind.SNAPSHOT_CREATED, UsageKind.SNAPSHOT_DELETED],
    )
    return list(rows.order_by("vm_id").values_list("vm_id", flat=True).distinct())


def volume_usage_record(*, volume: Volume, kind: str, size_gib: int, at: datetime) -> None:
    """Append one volume event (created, resized, deleted); recording it again changes nothing."""
    event = VolumeUsageEvent(
        key=f"volume:{volume.uuid}:{kind}@{at.isoformat()}",
        volume=volume,
        tenant_id=volume.tenant_id,
        environment_id=volume.environment_id,
        volume_name=volume.name,
        kind=kind,
        at=at,
        size_gib=size_gib,
    )
    VolumeUsageEvent.objects.bulk_create([event], ignore_conflicts=True)


def snapshot_usage_record(*, snapshot: Snapshot, kind: str, at: datetime) -> None:
    """Append a snapshot's event to its VM's ledger: "created" (with its size measured on the
    host, billed in whole GiB rounded up) or "deleted"; recording it again changes nothing."""
    usage_kind = UsageKind.SNAPSHOT_CREATED if kind == "created" else UsageKind.SNAPSHOT_DELETED
    usage_event_record(
        vm=snapshot.vm,
        kind=usage_kind,
        at=at,
        cause=f"snapshot:{snapshot.uuid}",
        snapshot_ref=str(snapshot.uuid),
        snapshot_gib=snapshot.size_gib if kind == "created" else 0,
    )
