"""Live migration: starting one (target claimed at once), its steps, and undoing a failed one."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import RuntimeState, Transition, VMState, VolumeState
from compute.models import Host, Operation, VirtualMachine, Volume
from compute.services._common import _operation_begin, _transition
from compute.services.placement import _placement_choose, _placement_refusal
from compute.services.seed import seed_ensure, seed_path, seed_remove
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import require_platform_admin


@transaction.atomic
def vm_migrate(
    *,
    vm: VirtualMachine,
    requested_by: User | None,
    target: Host | None = None,
    remote_addr: str | None = None,
) -> Operation:
    """Live-migrate a running VM to `target`, or to the best other host when none is given.

    The target's capacity is claimed now (the operation's target_host counts in placement), so
    concurrent placements and migrations cannot overcommit it. `requested_by` None is Nuage
    itself (maintenance evacuation).
    """
    if requested_by is not None:
        require_platform_admin(requested_by)
    vm = VirtualMachine.objects.unscoped().select_related("host", "flavor", "tenant").get(pk=vm.pk)
    source = vm.host
    if vm.is_container:
        # libvirt's LXC driver has no migration; a container stays on its host.
        raise ValidationError({"host": _("A container cannot be live-migrated.")})
    if vm.state != VMState.RUNNING or source is None:
        raise ConflictError(
            _("Only a running VM can be live-migrated; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    busy = (
        Volume.objects.unscoped()
        .filter(vm_id=vm.pk)
        .exclude(state__in=[VolumeState.IN_USE, VolumeState.DELETED])
        .order_by("name")
        .first()
    )
    if busy is not None:
        # Attached volumes move with it (`_volumes_of`); one on its way elsewhere cannot.
        raise ConflictError(
            _(
                "This VM's volume %(volume)s is %(state)s: move the VM once it is in use or "
                "detached."
            )
            % {"volume": busy.name, "state": str(VolumeState(busy.state).label).lower()},
            state=vm.state,
        )
    if target is None:
        try:
            target = _placement_choose(vm, exclude=source)
        except hypervisor.HypervisorError as exc:
            raise ValidationError({"host": str(exc)}) from exc
    else:
        if target.pk == source.pk:
            raise ValidationError(
                {"host": _("The VM already runs on %(host)s.") % {"host": target.name}}
            )
        refusal = _placement_refusal(vm, target)
        if refusal:
            raise ValidationError({"host": refusal})
    _transition(vm, Transition.MIGRATE, error_message="")
    op = _operation_begin(vm, requested_by=requested_by, source_host=source, target_host=target)
    audit_record(
        actor=requested_by,
        action="vm.migrate",
        obj=vm,
        tenant=vm.tenant,
        changes={"host": [source.name, target.name]},
        remote_addr=remote_addr,
    )
    return op


def storage_shared(source: Host | None, target: Host | None) -> bool:
    """Whether a move between these hosts finds the VM's disks where they are (both on the
    same shared storage pool): nothing is copied, created or removed then."""
    return (
        source is not None
        and target is not None
        and source.shared_storage
        and target.shared_storage
        and source.storage_pool == target.storage_pool
    )


def _volumes_of(vm: VirtualMachine) -> list[Volume]:
    """The data volumes attached to the VM: its live migration copies them with its disk."""
    return list(
        Volume.objects.unscoped().filter(vm_id=vm.pk, state=VolumeState.IN_USE).order_by("pk")
    )


def _step_preparing_target(op: Operation) -> str:
    target, vm = op.target_host, op.vm
    assert target is not None
    if storage_shared(op.source_host, target):
        return _("Disks already reachable from %(host)s (shared storage).") % {"host": target.name}
    if not hypervisor.domain_runtime_state(target.uri, str(vm.uuid)) == RuntimeState.RUNNING:
        target_disk_prepare(op, capacity_gib=vm.flavor.disk_gib)
        # What the copy of each data volume goes into: an empty one of its size, same name.
        for volume in _volumes_of(vm):
            hypervisor.ensure_volume(
                target.uri,
                pool=target.storage_pool,
                name=volume.volume_name,
                capacity_gib=volume.size_gib,
                backing_volume=None,
            )
    return _("Disk ready on %(host)s.") % {"host": target.name}


def target_disk_prepare(op: Operation, *, capacity_gib: int) -> None:
    """What a move copies into, on the operation's target host: an empty volume of
    `capacity_gib`, and the seed. Moves copy writable disks only: the read-only seed must be
    there already, at the same path (the same pool), built again from the same inputs."""
    target, source, vm = op.target_host, op.source_host, op.vm
    assert target is not None
    hypervisor.ensure_volume(
        target.uri,
        pool=target.storage_pool,
        name=vm.volume_name,
        capacity_gib=capacity_gib,
        backing_volume=None,
    )
    if source is not None and seed_path(vm=vm, host=source):
        seed_ensure(vm=vm, host=target)


def _step_migrating(op: Operation) -> str:
    source, target, vm = op.source_host, op.target_host, op.vm
    assert source is not None and target is not None
    started = time.monotonic()
    moved = hypervisor.migrate_domain(
        source.uri,
        target.uri,
        target_peer_uri=target.migration_uri,
        uuid=str(vm.uuid),
        copy_storage=not storage_shared(source, target),
    )
    if not moved:
        return _("Already running on %(host)s.") % {"host": target.name}
    return _("Running on %(host)s after %(seconds).1f s.") % {
        "host": target.name,
        "seconds": time.monotonic() - started,
    }


def _migration_switch_host(op: Operation) -> None:
    """The domain runs on the target: the VM row follows it, in the transaction that marks the
    migrating step done (a rerun after a crash finds it there and records the same)."""
    target = op.target_host
    assert target is not None
    VirtualMachine.objects.unscoped().filter(pk=op.vm_id).update(host=target)
    Volume.objects.unscoped().filter(vm_id=op.vm_id, state=VolumeState.IN_USE).update(host=target)
    op.vm.host = target


def _step_cleaning_source(op: Operation) -> str:
    source, vm = op.source_host, op.vm
    assert source is not None
    # The source domain was undefined by the migration; a leftover definition would be a
    # second copy waiting to be started by mistake.
    hypervisor.remove_domain(source.uri, str(vm.uuid))
    if storage_shared(source, op.target_host):
        return _("Nothing to remove: the disks are on shared storage.")
    removed = hypervisor.remove_volume(source.uri, pool=source.storage_pool, name=vm.volume_name)
    seed_remove(vm=vm, host=source)
    for volume in _volumes_of(vm):  # now on the target (`_migration_switch_host`)
        hypervisor.remove_volume(source.uri, pool=source.storage_pool, name=volume.volume_name)
    return _("Source disk removed.") if removed else _("No source disk to remove.")


def _undo_migration(op: Operation) -> str:
    """Remove the target's copy of the disk when the domain did not move there."""
    target, vm = op.target_host, op.vm
    if target is None or vm.host_id == target.pk or storage_shared(op.source_host, target):
        return ""
    try:
        if hypervisor.domain_runtime_state(target.uri, str(vm.uuid)) == RuntimeState.NO_DOMAIN:
            hypervisor.remove_volume(target.uri, pool=target.storage_pool, name=vm.volume_name)
            seed_remove(vm=vm, host=target)
            for volume in _volumes_of(vm):  # still on the source: only the copies go
                hypervisor.remove_volume(
                    target.uri, pool=target.storage_pool, name=volume.volume_name
                )
    except hypervisor.HypervisorError as exc:
        return _("Removing the disk copy on %(host)s failed too (%(error)s).") % {
            "host": target.name,
            "error": exc,
        }
    return ""
