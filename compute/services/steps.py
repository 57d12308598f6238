"""The idempotent hypervisor steps an operation is made of, one runner per step name."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import OperationKind, Step
from compute.console import console_vnc_password
from compute.models import Flavor, Host, Operation, VirtualMachine
from compute.services.migration import (
    _migration_switch_host,
    _step_cleaning_source,
    _step_migrating,
    _step_preparing_target,
)
from compute.services.networks import vm_networks_ensure
from compute.services.placement import placement_claim
from compute.services.resize import (
    _step_growing_disk,
    _step_moving,
    _step_preparing_move,
    _step_redefining,
)
from compute.services.seed import seed_ensure, seed_path, seed_remove, vm_nics
from compute.services.snapshots import (
    _step_deleting_snapshot,
    _step_reverting_snapshot,
    _step_taking_snapshot,
    snapshots_release_with_vm,
)
from compute.services.volumes import (
    volumes_disk_specs,
    volumes_release_with_vm,
    volumes_remove_with_vm,
)


def _domain_spec(vm: VirtualMachine, disk_path: str, seed: str = "") -> hypervisor.DomainSpec:
    host = vm.host
    assert host is not None
    log_dir = settings.NUAGE["SERIAL_LOG_DIR"]
    return hypervisor.DomainSpec(
        name=vm.domain_name,
        uuid=str(vm.uuid),
        title=f"{vm.tenant.slug}/{vm.name}",
        vcpus=vm.flavor.vcpus,
        memory_mib=vm.flavor.ram_mib,
        disk_path=disk_path,
        domain_type=host.domain_type,
        kernel=vm.image.kernel_path if vm.image.kind == "kernel" else "",
        initrd=vm.image.initrd_path if vm.image.kind == "kernel" else "",
        cmdline=vm.image.cmdline if vm.image.kind == "kernel" else "",
        serial_log=f"{log_dir}/{vm.domain_name}-serial.log",
        tenant=vm.tenant.slug,
        seed_path=seed,
        nics=vm_nics(vm),
        vnc_password=console_vnc_password(vm.uuid) if host.domain_type == "qemu" else "",
        limits=flavor_limits(vm.flavor),
        data_disks=volumes_disk_specs(vm),
        user_net_restricted=not settings.NUAGE["USER_NET_HOST_ACCESS"],
    )


def _container_spec(vm: VirtualMachine) -> hypervisor.ContainerSpec:
    return hypervisor.ContainerSpec(
        name=vm.domain_name,
        uuid=str(vm.uuid),
        title=f"{vm.tenant.slug}/{vm.name}",
        vcpus=vm.flavor.vcpus,
        memory_mib=vm.flavor.ram_mib,
        rootfs=vm.rootfs_dir,
        tenant=vm.tenant.slug,
        limits=flavor_limits(vm.flavor),
    )


def _require_local(host: Host) -> None:
    # The rootfs copy is made with the worker's own file system (compute.hypervisor.rootfs).
    if urlsplit(host.uri).hostname not in (None, "", "localhost", "127.0.0.1", "::1"):
        raise hypervisor.HypervisorError(
            _(
                "Containers' root file systems are copied by the worker on its own machine: "
                "run a worker on host %(host)s and register it there as lxc:///."
            )
            % {"host": host.name}
        )


def _step_preparing_rootfs(vm: VirtualMachine) -> str:
    assert vm.host is not None
    _require_local(vm.host)
    made = hypervisor.rootfs_prepare(source=vm.image.rootfs_path, dest=vm.rootfs_dir)
    # The image's name, not the paths: they are the operator's business (and too long to read).
    if made:
        return _("Root file system copied from image %(image)s.") % {"image": vm.image.name}
    return _("Existing root file system kept.")


def _step_removing_rootfs(vm: VirtualMachine) -> str:
    if vm.host is None:
        return _("Nothing to remove.")
    _require_local(vm.host)
    removed = hypervisor.rootfs_remove(vm.rootfs_dir)
    return _("Root file system removed.") if removed else _("No root file system to remove.")


def flavor_limits(flavor: Flavor) -> hypervisor.ResourceLimits:
    """The flavor's limits as the domain gets them (unset: 0, no limit)."""
    return hypervisor.ResourceLimits(**{name: int(value) for name, value in flavor.limits.items()})


def _apply_live_limits(vm: VirtualMachine) -> str:
    """What only a running domain takes: the memory hard limit (see hypervisor.ResourceLimits)."""
    assert vm.host is not None
    hard = vm.flavor.memory_hard_limit_mib
    if not hard:
        return ""
    hypervisor.set_memory_hard_limit(vm.host.uri, str(vm.uuid), mib=hard)
    return " " + _("Memory limited to %(mib)s MiB.") % {"mib": hard}


def _step_applying_limits(vm: VirtualMachine) -> str:
    """The memory hard limit set again on the VM's (new) host: a live migration brings the
    guest there without it (hypervisor.migrate_domain). Idempotent: the same value again."""
    if vm.is_container:
        return _("The container's limits are in its definition.")
    applied = _apply_live_limits(vm).strip()
    return applied or _("No memory hard limit to apply.")


def _ensure_disk(vm: VirtualMachine) -> str:
    assert vm.host is not None
    return hypervisor.ensure_volume(
        vm.host.uri,
        pool=vm.host.storage_pool,
        name=vm.volume_name,
        capacity_gib=vm.flavor.disk_gib,
        # Disk images, and kernel images made from an imported OVA, have a base volume.
        backing_volume=vm.image.base_volume or None,
    )


def _step_scheduled(vm: VirtualMachine) -> str:
    if vm.host is None:
        placement_claim(vm=vm)
    assert vm.host is not None
    return _("Placed on host %(host)s.") % {"host": vm.host.name}


def _step_creating_disk(vm: VirtualMachine) -> str:
    return _("Disk %(path)s ready.") % {"path": _ensure_disk(vm)}


def _step_preparing_seed(vm: VirtualMachine) -> str:
    assert vm.host is not None
    return _("Cloud-init seed %(path)s ready.") % {"path": seed_ensure(vm=vm, host=vm.host)}


def _step_defining(vm: VirtualMachine) -> str:
    assert vm.host is not None
    if vm.is_container:
        created = hypervisor.ensure_container_defined(vm.host.uri, _container_spec(vm))
        return _("Container defined.") if created else _("Existing container adopted.")
    # The disk and seed paths are looked up again (cheap and idempotent) rather than stored.
    # A VM from before seeds (an HA restart defines it again) has none and gets no CD-ROM.
    spec = _domain_spec(vm, _ensure_disk(vm), seed_path(vm=vm, host=vm.host))
    # The host has the nat and isolated networks the NICs join (one added after the network
    # was created gets them now); a host that refuses fails the step with its reason.
    vm_networks_ensure(vm=vm)
    created = hypervisor.ensure_domain_defined(vm.host.uri, spec)
    return _("Domain defined.") if created else _("Existing domain adopted.")


def _step_starting(vm: VirtualMachine) -> str:
    assert vm.host is not None
    hypervisor.ensure_domain_running(vm.host.uri, str(vm.uuid))
    if vm.is_container:  # its limits are in its definition, applied by the LXC driver
        return _("Container running.")
    return _("Domain running.") + _apply_live_limits(vm)


def stop_grace_seconds() -> float:
    """How long a stop waits for the guest to shut down before powering it off."""
    return float(settings.NUAGE.get("STOP_GRACE_SECONDS", 60))


def _stop_forced(vm: VirtualMachine) -> bool:
    return bool(
        Operation.objects.unscoped()
        .filter(vm_id=vm.pk, kind=OperationKind.STOP)
        .order_by("-pk")
        .values_list("forced", flat=True)
        .first()
    )


def _stop(vm: VirtualMachine, *, grace: float) -> bool:
    assert vm.host is not None
    return hypervisor.ensure_domain_stopped(
        vm.host.uri,
        str(vm.uuid),
        grace_seconds=grace,
        # A container has no ACPI: its init gets SIGTERM, then it is destroyed after the grace.
        signal=vm.is_container,
    )


def _step_stopping(vm: VirtualMachine) -> str:
    assert vm.host is not None
    # "Force off" before the step began: no wait. During the wait, it powers the domain off
    # itself (compute.vm_power_off), which ends the wait below.
    grace = 0.0 if _stop_forced(vm) else stop_grace_seconds()
    graceful = _stop(vm, grace=grace)
    if _stop_forced(vm):
        return _("Powered off at the user's request, without waiting for the guest.")
    if vm.is_container:
        return (
            _("Container stopped.") if graceful else _("Container did not stop in time; destroyed.")
        )
    return _("Guest shut down.") if graceful else _("Guest did not shut down in time; powered off.")


def _step_rebooting(vm: VirtualMachine) -> str:
    assert vm.host is not None
    if vm.is_container:
        # Its init's reboot ends the container (on_reboot destroy): stop it, start it again.
        graceful = _stop(vm, grace=stop_grace_seconds())
        hypervisor.ensure_domain_running(vm.host.uri, str(vm.uuid))
        return _("Container restarted.") if graceful else _("Container destroyed, then started.")
    hypervisor.reboot_domain(vm.host.uri, str(vm.uuid))
    return _("Reboot requested.") + _apply_live_limits(vm)


def _step_removing_domain(vm: VirtualMachine) -> str:
    if vm.host is None:
        return _("Nothing to remove.")
    removed = hypervisor.remove_domain(vm.host.uri, str(vm.uuid))
    return _("Domain removed.") if removed else _("No domain to remove.")


def _step_removing_disk(vm: VirtualMachine) -> str:
    volumes_remove_with_vm(vm)  # its data volumes not kept after its deletion
    if vm.host is None:
        return _("Nothing to remove.")
    removed = hypervisor.remove_volume(vm.host.uri, pool=vm.host.storage_pool, name=vm.volume_name)
    seed_remove(vm=vm, host=vm.host)
    return _("Disk removed.") if removed else _("No disk to remove.")


OPERATION_STEP_RUNNERS: dict[str, Callable[[Operation], str]] = {
    Step.PREPARING_TARGET: _step_preparing_target,
    Step.MIGRATING: _step_migrating,
    Step.CLEANING_SOURCE: _step_cleaning_source,
    Step.TAKING_SNAPSHOT: _step_taking_snapshot,
    Step.REVERTING_SNAPSHOT: _step_reverting_snapshot,
    Step.DELETING_SNAPSHOT: _step_deleting_snapshot,
    Step.PREPARING_MOVE: _step_preparing_move,
    Step.MOVING: _step_moving,
}


STEP_RUNNERS: dict[str, Callable[[VirtualMachine], str]] = {
    Step.GROWING_DISK: _step_growing_disk,
    Step.REDEFINING: _step_redefining,
    Step.SCHEDULED: _step_scheduled,
    Step.CREATING_DISK: _step_creating_disk,
    Step.PREPARING_SEED: _step_preparing_seed,
    Step.DEFINING: _step_defining,
    Step.STARTING: _step_starting,
    Step.APPLYING_LIMITS: _step_applying_limits,
    Step.STOPPING: _step_stopping,
    Step.REBOOTING: _step_rebooting,
    Step.REMOVING_DOMAIN: _step_removing_domain,
    Step.REMOVING_DISK: _step_removing_disk,
    Step.PREPARING_ROOTFS: _step_preparing_rootfs,
    Step.REMOVING_ROOTFS: _step_removing_rootfs,
}

# Steps that wait on the guest (a graceful shutdown) or copy a disk between hosts: each runs in
# a task of its own, so that the quick steps before and after it are not held up behind it and
# a worker thread is not taken for minutes by a batch (`operations.operation_advance`).
BLOCKING_STEPS: frozenset[str] = frozenset({Step.STOPPING, Step.MIGRATING, Step.MOVING})

# What a step writes to the database besides its own row, in the transaction that marks it done.
STEP_EFFECTS: dict[str, Callable[[Operation], None]] = {
    Step.MIGRATING: _migration_switch_host,
    Step.MOVING: _migration_switch_host,
    Step.REMOVING_DISK: volumes_release_with_vm,
    # The domain went with its snapshots' metadata (their data is in its disk, removed next).
    Step.REMOVING_DOMAIN: snapshots_release_with_vm,
}
