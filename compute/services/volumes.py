"""Data volumes: create, attach and detach (hot-plug on a running VM), grow, delete.

A volume's writes are conditional UPDATEs along `VOLUME_TRANSITIONS` (a loser gets a 409, as
for VMs). The hypervisor work of a transitional state is done by `volume_advance`, in a Celery
task dispatched on commit, with no transaction open while libvirt is asked anything and under a
claim (a session advisory lock) so that two deliveries never work on one volume at once; every
hypervisor call is idempotent, so a redelivery or the reconciler's re-dispatch just goes on.

Placement: a new volume takes no space on any host. The first attachment places it on the host
of its VM (state `creating`: its storage is made in that host's pool, then attached); it stays
on that host, and attaching it to a VM on another host is refused with a 400 saying so.

Quota and billing: a volume holds its size of its environment's `disk_gib` quota from creation to
deletion (a resize takes the difference when asked, and gives it back if it fails); billing's
ledger records its creation, each resize once done, and its deletion, each at the second of the
state change (compute.ports).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import (
    VOLUME_TARGET_DEVS,
    VOLUME_TRANSITIONAL_STATES,
    VOLUME_TRANSITIONS,
    VMState,
    VolumeState,
    VolumeTransition,
)
from compute.models import Operation, VirtualMachine, Volume
from compute.ports import volume_quota_give, volume_quota_take, volume_usage_record
from compute.services._common import require_no_export, require_not_container
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import Environment, User
from portal.permissions import Perm, has_perm, require_perm

logger = logging.getLogger(__name__)

# VM states in which a volume may be plugged in or out: the domain is defined and not busy.
_VM_STEADY = frozenset({VMState.RUNNING, VMState.STOPPED})


def can_operate_volume(user: User, volume: Volume) -> bool:
    """Whether the user may attach, detach, grow or delete this volume (theirs, or any)."""
    if has_perm(user, volume.tenant, Perm.VM_OPERATE_ANY):
        return True
    return volume.owner_id == user.id and has_perm(user, volume.tenant, Perm.VM_OPERATE_OWN)


def _require_operate(user: User, volume: Volume) -> None:
    if not can_operate_volume(user, volume):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))


def _volume_transition(volume: Volume, transition: str, **fields: Any) -> None:
    """Move the volume along a declared transition with a conditional UPDATE (409 otherwise)."""
    sources, target = VOLUME_TRANSITIONS[transition]
    now = timezone.now()
    updated = (
        Volume.objects.unscoped()
        .filter(pk=volume.pk, state__in=sources)
        .update(state=target, state_changed_at=now, **fields)
    )
    if updated != 1:
        current = Volume.objects.unscoped().filter(pk=volume.pk).values_list("state", flat=True)
        found = current.first()
        label = VolumeState(found).label if found else _("gone")
        raise ConflictError(
            _("Cannot %(action)s a volume that is %(state)s.")
            % {
                "action": VolumeTransition(transition).label.lower(),
                "state": str(label).lower(),
            },
            state=found,
        )
    volume.state = target
    volume.state_changed_at = now
    for name, value in fields.items():
        setattr(volume, name, value)


def _dispatch(volume_id: int) -> None:
    from compute.tasks import volume_advance  # tasks import services, not the other way

    transaction.on_commit(lambda: volume_advance.delay(volume_id))


def _record(volume: Volume, kind: str, size_gib: int) -> None:
    volume_usage_record(volume=volume, kind=kind, size_gib=size_gib, at=volume.state_changed_at)


def _clean(volume: Volume) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        volume.clean_fields(
            exclude=["tenant", "environment", "owner", "host", "vm", "resize_to_gib"]
        )
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
    return errors


def _name_taken(volume: Volume) -> bool:
    return (
        Volume.objects.unscoped()
        .filter(tenant_id=volume.tenant_id, name=volume.name)
        .exclude(state=VolumeState.DELETED)
        .exclude(pk=volume.pk)
        .exists()
    )


@transaction.atomic
def volume_create(
    *,
    created_by: User,
    environment: Environment,
    name: str,
    size_gib: int,
    keep_after_vm_deletion: bool = False,
    vm: VirtualMachine | None = None,
    remote_addr: str | None = None,
) -> Volume:
    """A new volume of `size_gib` in the environment (its quota taken now); with `vm`, attached
    to it at once (placed on its host)."""
    tenant = environment.tenant
    require_perm(created_by, tenant, Perm.VM_REQUEST)
    volume = Volume(
        tenant=tenant,
        environment=environment,
        owner=created_by,
        name=name,
        size_gib=size_gib,
        keep_after_vm_deletion=keep_after_vm_deletion,
    )
    errors = _clean(volume)
    if "name" not in errors and _name_taken(volume):
        errors["name"] = _("A volume named '%(name)s' already exists in this tenant.") % {
            "name": name
        }
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            volume.save()
    except IntegrityError as exc:  # a concurrent request took the name
        raise ValidationError(
            {"name": _("A volume named '%(name)s' already exists in this tenant.") % {"name": name}}
        ) from exc
    volume_quota_take(volume=volume, gib=size_gib)
    volume.state_changed_at = volume.created_at
    _record(volume, "created", size_gib)
    audit_record(
        actor=created_by,
        action="volume.create",
        obj=volume,
        tenant=tenant,
        remote_addr=remote_addr,
        changes={"environment": environment.name, "size_gib": size_gib},
    )
    if vm is not None:
        _attach(volume=volume, vm=vm, requested_by=created_by, remote_addr=remote_addr)
    return volume


def _free_target(vm: VirtualMachine) -> str:
    taken = set(Volume.objects.unscoped().filter(vm_id=vm.pk).values_list("target_dev", flat=True))
    for dev in VOLUME_TARGET_DEVS:
        if dev not in taken:
            return dev
    raise ValidationError(
        {"vm": _("This VM has %(n)s volumes already, the most it can take.") % {"n": len(taken)}}
    )


def _attach(
    *, volume: Volume, vm: VirtualMachine, requested_by: User, remote_addr: str | None
) -> None:
    if vm.tenant_id != volume.tenant_id:
        # Only a platform role sees both; to everyone else the VM does not exist.
        raise ValidationError({"vm": _("A volume can only be attached to a VM of its tenant.")})
    require_not_container(vm)
    if not has_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY) and not (
        vm.owner_id == requested_by.id and has_perm(requested_by, vm.tenant, Perm.VM_OPERATE_OWN)
    ):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))
    # The VM's row first (then the volume's): two attachments to one VM pick their device
    # names one after the other.
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("host")
        .get(pk=vm.pk)
    )
    current = Volume.objects.unscoped().select_for_update().get(pk=volume.pk)
    if current.vm_id is not None:
        raise ConflictError(
            _("This volume is already attached to a VM; detach it first."), state=current.state
        )
    if vm.state not in _VM_STEADY or vm.host is None:
        raise ConflictError(
            _("A volume can be attached to a running or stopped VM; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    require_no_export(vm)
    if current.host_id is not None and current.host_id != vm.host_id:
        host_name = current.host.name if current.host else ""
        raise ValidationError(
            {
                "vm": _(
                    "This volume lives on host %(volume_host)s and the VM runs on host "
                    "%(vm_host)s: a volume can only be attached to VMs on its own host."
                )
                % {"volume_host": host_name, "vm_host": vm.host.name}
            }
        )
    fields: dict[str, Any] = {
        "vm": vm,
        "target_dev": _free_target(vm),
        "error_message": "",
        "attempts": 0,
    }
    if current.host_id is None:
        _volume_transition(volume, VolumeTransition.ATTACH_NEW, host=vm.host, **fields)
    else:
        _volume_transition(volume, VolumeTransition.ATTACH, **fields)
    audit_record(
        actor=requested_by,
        action="volume.attach",
        obj=volume,
        tenant=volume.tenant,
        remote_addr=remote_addr,
        changes={"vm": vm.name, "target_dev": volume.target_dev},
    )
    _dispatch(volume.pk)


@transaction.atomic
def volume_attach(
    *, volume: Volume, vm: VirtualMachine, requested_by: User, remote_addr: str | None = None
) -> Volume:
    """Plug the volume into the VM: live and in its definition when it runs, in its
    definition only when it is stopped."""
    _require_operate(requested_by, volume)
    _attach(volume=volume, vm=vm, requested_by=requested_by, remote_addr=remote_addr)
    return volume


@transaction.atomic
def volume_detach(*, volume: Volume, requested_by: User, remote_addr: str | None = None) -> Volume:
    _require_operate(requested_by, volume)
    if volume.vm_id is None:
        raise ConflictError(_("This volume is not attached to a VM."), state=volume.state)
    # The VM's row first (then the volume's), as an attachment and an export lock them.
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update(of=("self",))
        .filter(pk=volume.vm_id)
        .first()
    )
    if vm is not None and vm.state not in (*_VM_STEADY, VMState.ERROR):
        raise ConflictError(
            _("Wait until the VM is running or stopped; it is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    if vm is not None:
        require_no_export(vm)
    _volume_transition(volume, VolumeTransition.DETACH, error_message="", attempts=0)
    audit_record(
        actor=requested_by,
        action="volume.detach",
        obj=volume,
        tenant=volume.tenant,
        remote_addr=remote_addr,
        changes={"vm": vm.name if vm else "", "target_dev": volume.target_dev},
    )
    _dispatch(volume.pk)
    return volume


@transaction.atomic
def volume_resize(
    *, volume: Volume, size_gib: int, requested_by: User, remote_addr: str | None = None
) -> Volume:
    """Grow the volume to `size_gib` (never shrink); an attached running VM's guest sees the new
    size at once. The quota difference is taken now."""
    _require_operate(requested_by, volume)
    current = Volume.objects.unscoped().select_for_update().get(pk=volume.pk)
    if isinstance(size_gib, bool) or not isinstance(size_gib, int):
        raise ValidationError({"size_gib": _("Give a whole number of GiB.")})
    if size_gib <= current.size_gib:
        raise ValidationError(
            {
                "size_gib": _("A volume only grows: give more than its current %(size)s GiB.")
                % {"size": current.size_gib}
            }
        )
    limit = 16 * 1024
    if size_gib > limit:
        raise ValidationError({"size_gib": _("A volume is at most %(max)s GiB.") % {"max": limit}})
    if current.vm_id is not None:
        attached = VirtualMachine.objects.unscoped().filter(pk=current.vm_id).first()
        vm_state = attached.state if attached else None
        if attached is None or vm_state not in _VM_STEADY:
            raise ConflictError(
                _("Wait until the VM is running or stopped to grow its volume."), state=vm_state
            )
        require_no_export(attached)
    old = current.size_gib
    if current.host_id is None and current.state == VolumeState.AVAILABLE:
        # Not placed on a host yet: nothing to grow but the record.
        volume_quota_take(volume=current, gib=size_gib - old)
        now = timezone.now()
        Volume.objects.unscoped().filter(pk=current.pk).update(size_gib=size_gib)
        volume.size_gib = size_gib
        volume_usage_record(volume=volume, kind="resized", size_gib=size_gib, at=now)
    else:
        _volume_transition(
            volume, VolumeTransition.RESIZE, resize_to_gib=size_gib, error_message="", attempts=0
        )
        volume_quota_take(volume=volume, gib=size_gib - old)
        _dispatch(volume.pk)
    audit_record(
        actor=requested_by,
        action="volume.resize",
        obj=volume,
        tenant=volume.tenant,
        remote_addr=remote_addr,
        changes={"size_gib": [old, size_gib]},
    )
    return volume


@transaction.atomic
def volume_delete(*, volume: Volume, requested_by: User, remote_addr: str | None = None) -> Volume:
    _require_operate(requested_by, volume)
    current = Volume.objects.unscoped().select_for_update().get(pk=volume.pk)
    volume.host_id, volume.vm_id = current.host_id, current.vm_id
    if current.state == VolumeState.IN_USE:
        raise ConflictError(
            _("This volume is attached to a VM; detach it first."), state=volume.state
        )
    _volume_transition(volume, VolumeTransition.DELETE, error_message="", attempts=0)
    audit_record(
        actor=requested_by,
        action="volume.delete",
        obj=volume,
        tenant=volume.tenant,
        remote_addr=remote_addr,
    )
    if volume.host_id is None and volume.vm_id is None:
        _deleted(volume)  # never placed: nothing on any host
    else:
        _dispatch(volume.pk)
    return volume


def _held_gib(volume: Volume) -> int:
    """What the volume holds of the quota: its size, or the size a pending resize asked for."""
    return max(volume.size_gib, volume.resize_to_gib or 0)


def _deleted(volume: Volume, transition: str = VolumeTransition.DELETED) -> None:
    held = _held_gib(volume)
    _volume_transition(
        volume, transition, deleted_at=timezone.now(), vm=None, target_dev="", resize_to_gib=None
    )
    volume_quota_give(volume=volume, gib=held)
    _record(volume, "deleted", volume.size_gib)


# --- the worker's side ----------------------------------------------------------------------

# The first key of the volumes' claims (operations use 1869639793, the billing trigger another).
_CLAIM_NAMESPACE = 1869639794


@contextmanager
def _claim(volume_id: int) -> Iterator[bool]:
    """Whether this worker may work on the volume now (see `operation_claim`)."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [_CLAIM_NAMESPACE, volume_id % 2147483647]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        row = cursor.fetchone()
        held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except DatabaseError:
                logger.warning("Could not release the claim on volume %s", volume_id)


def _load(volume_id: int) -> Volume | None:
    return (
        Volume.objects.unscoped()
        .select_related("host", "vm__host", "tenant")
        .filter(pk=volume_id)
        .first()
    )


def _ensure_storage(volume: Volume) -> str:
    host = volume.host
    assert host is not None
    return hypervisor.ensure_volume(
        host.uri,
        pool=host.storage_pool,
        name=volume.volume_name,
        capacity_gib=volume.size_gib,
        backing_volume=None,
    )


def _vm_uri(volume: Volume) -> str | None:
    vm = volume.vm
    if vm is None or vm.host is None:
        return None
    return vm.host.uri


def _work(volume: Volume) -> str:
    """The hypervisor part of the volume's state; returns the transition that ends it
    ("" when there is nothing to record yet: ask again later)."""
    state = volume.state
    if state == VolumeState.CREATING:
        _ensure_storage(volume)
        return VolumeTransition.CREATED
    if state == VolumeState.ATTACHING:
        vm, uri = volume.vm, _vm_uri(volume)
        if vm is None or uri is None:
            raise hypervisor.HypervisorError(_("The VM this volume was attached to is gone."))
        hypervisor.attach_disk(
            uri,
            domain_uuid=str(vm.uuid),
            path=_ensure_storage(volume),
            target_dev=volume.target_dev,
            serial=volume.serial,
        )
        return VolumeTransition.ATTACHED
    if state == VolumeState.DETACHING:
        uri = _vm_uri(volume)
        if uri is not None and volume.vm is not None:
            gone = hypervisor.detach_disk(
                uri, domain_uuid=str(volume.vm.uuid), target_dev=volume.target_dev
            )
            if not gone:
                return ""  # the guest has not let go yet: the reconciler asks again
        return VolumeTransition.DETACHED
    if state == VolumeState.RESIZING:
        host = volume.host
        assert host is not None and volume.resize_to_gib is not None
        vm = volume.vm
        hypervisor.grow_volume(
            host.uri,
            pool=host.storage_pool,
            name=volume.volume_name,
            capacity_gib=volume.resize_to_gib,
            domain_uuid=str(vm.uuid) if vm is not None else None,
            target_dev=volume.target_dev,
        )
        return (
            VolumeTransition.RESIZED_IN_USE
            if volume.vm_id is not None
            else VolumeTransition.RESIZED_AVAILABLE
        )
    if state == VolumeState.DELETING:
        uri = _vm_uri(volume)
        if uri is not None and volume.vm is not None and volume.target_dev:
            hypervisor.detach_disk(
                uri, domain_uuid=str(volume.vm.uuid), target_dev=volume.target_dev
            )
        if volume.host is not None:
            hypervisor.remove_volume(
                volume.host.uri, pool=volume.host.storage_pool, name=volume.volume_name
            )
        return VolumeTransition.DELETED
    return ""


def _finish(volume: Volume, transition: str) -> None:
    """Record what the hypervisor did, if the volume is still where the work began."""
    if transition == VolumeTransition.DELETED:
        _deleted(volume)
        return
    fields: dict[str, Any] = {"error_message": "", "attempts": 0}
    if transition == VolumeTransition.DETACHED:
        fields.update(vm=None, target_dev="")
    resized = transition in (VolumeTransition.RESIZED_IN_USE, VolumeTransition.RESIZED_AVAILABLE)
    size = volume.resize_to_gib
    if resized:
        assert size is not None
        fields.update(size_gib=size, resize_to_gib=None)
    _volume_transition(volume, transition, **fields)
    if resized:
        _record(volume, "resized", volume.size_gib)


def _fail(volume: Volume, message: str) -> None:
    if volume.state == VolumeState.RESIZING:
        # The disk kept its size: the volume is as it was, and the quota taken is given back.
        asked = volume.resize_to_gib or volume.size_gib
        back = (
            VolumeTransition.RESIZED_IN_USE
            if volume.vm_id is not None
            else VolumeTransition.RESIZED_AVAILABLE
        )
        _volume_transition(volume, back, resize_to_gib=None, error_message=message)
        volume_quota_give(volume=volume, gib=asked - volume.size_gib)
    else:
        _volume_transition(volume, VolumeTransition.FAIL, error_message=message)
    audit_record(
        actor=None,
        action="volume.failed",
        obj=volume,
        tenant=volume.tenant,
        changes={"reason": message},
    )


def volume_advance(*, volume_id: int) -> bool:
    """Do the hypervisor work of the volume's transitional state and record it; True if more
    remains (the caller dispatches it again). Safe to call twice: a second delivery finds the
    claim taken, or the state already moved on."""
    with _claim(volume_id) as claimed:
        if not claimed:
            return False
        volume = _load(volume_id)
        if volume is None or volume.state not in VOLUME_TRANSITIONAL_STATES:
            return False
        state = volume.state
        try:
            transition = _work(volume)  # no transaction open, no row locked
        except hypervisor.HypervisorError as exc:
            with transaction.atomic():
                try:
                    current = Volume.objects.unscoped().select_for_update().get(pk=volume_id)
                    if current.state == state:
                        current.tenant = volume.tenant
                        _fail(current, str(exc))
                except ConflictError:
                    pass
            return False
        if not transition:
            return False
        with transaction.atomic():
            current = Volume.objects.unscoped().select_for_update().get(pk=volume_id)
            if current.state != state:
                return False  # moved on meanwhile (its VM was deleted)
            current.tenant = volume.tenant
            try:
                _finish(current, transition)
            except ConflictError:
                return False
            return current.state in VOLUME_TRANSITIONAL_STATES


def volumes_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Volumes that overstay a transitional state: their work is dispatched again, and after
    NUAGE["MAX_ATTEMPTS"] re-dispatches they go to error (or back, for a resize) with why."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.NUAGE["STALE_SECONDS"])
    counts = {"volumes_redispatched": 0, "volumes_failed": 0}
    stale = Volume.objects.unscoped().filter(
        state__in=VOLUME_TRANSITIONAL_STATES, state_changed_at__lt=stale_before
    )
    for volume_id in list(stale.values_list("id", flat=True)):
        with transaction.atomic():
            volume = (
                Volume.objects.unscoped()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("tenant")
                .filter(pk=volume_id, state_changed_at__lt=stale_before)
                .first()
            )
            if volume is None or volume.state not in VOLUME_TRANSITIONAL_STATES:
                continue
            if volume.attempts >= settings.NUAGE["MAX_ATTEMPTS"]:
                if volume.state == VolumeState.DETACHING:
                    message = _("The guest did not release the disk; detach it again later.")
                else:
                    message = _("The volume's work made no progress after %(n)s attempts.") % {
                        "n": volume.attempts
                    }
                _fail(volume, message)
                counts["volumes_failed"] += 1
                continue
            # Its deadline moves on with each attempt (the state itself does not change).
            Volume.objects.unscoped().filter(pk=volume.pk).update(
                attempts=volume.attempts + 1, state_changed_at=now
            )
            _dispatch(volume.pk)
            counts["volumes_redispatched"] += 1
    return counts


# --- the VM's deletion ----------------------------------------------------------------------


def volumes_remove_with_vm(vm: VirtualMachine) -> int:
    """The VM's deleting step (its domain is gone): remove from the host the storage of its
    volumes that are not kept. Idempotent; returns how many were removed now."""
    removed = 0
    for volume in (
        Volume.objects.unscoped()
        .select_related("host")
        .filter(vm_id=vm.pk, keep_after_vm_deletion=False)
        .exclude(state=VolumeState.DELETED)
    ):
        if volume.host is not None and hypervisor.remove_volume(
            volume.host.uri, pool=volume.host.storage_pool, name=volume.volume_name
        ):
            removed += 1
    return removed


def volumes_release_with_vm(op: Operation) -> None:
    """In the transaction that records the VM's disks removed: its kept volumes are free again
    (the domain that held them is gone), the others are deleted with it."""
    for volume in (
        Volume.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("tenant")
        .filter(vm_id=op.vm_id)
        .exclude(state=VolumeState.DELETED)
        .order_by("pk")
    ):
        if volume.keep_after_vm_deletion:
            pending = _held_gib(volume) - volume.size_gib  # a resize the deletion cut short
            if pending:
                volume_quota_give(volume=volume, gib=pending)
            _volume_transition(
                volume,
                VolumeTransition.VM_DELETED_KEEP,
                vm=None,
                target_dev="",
                resize_to_gib=None,
                error_message="",
            )
            action = "volume.released_by_vm_deletion"
        else:
            _deleted(volume, VolumeTransition.VM_DELETED_DROP)
            action = "volume.deleted_with_vm"
        audit_record(
            actor=None, action=action, obj=volume, tenant=volume.tenant, changes={"vm": op.vm_id}
        )


def volumes_disk_specs(vm: VirtualMachine) -> tuple[hypervisor.DataDiskSpec, ...]:
    """The data volumes a definition of the VM's domain includes: those attached to it on its
    host (paths looked up in the pool; a volume missing there is left out)."""
    host = vm.host
    if host is None:
        return ()
    specs = []
    for volume in (
        Volume.objects.unscoped()
        .filter(vm_id=vm.pk, host_id=host.pk, state__in=_ATTACHED_STATES)
        .order_by("target_dev")
    ):
        path = hypervisor.volume_path(host.uri, pool=host.storage_pool, name=volume.volume_name)
        if path is not None:
            specs.append(
                hypervisor.DataDiskSpec(
                    path=path, target_dev=volume.target_dev, serial=volume.serial
                )
            )
    return tuple(specs)


# Volumes whose disk is in their VM's definition.
_ATTACHED_STATES = (VolumeState.IN_USE, VolumeState.RESIZING, VolumeState.DETACHING)
