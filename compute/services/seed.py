"""A VM's cloud-init seed: what goes into it, and its volume beside the VM's disk on the host."""

from __future__ import annotations

from dataclasses import dataclass

from compute import cloudinit, hypervisor
from compute.models import Host, VirtualMachine


@dataclass(frozen=True)
class SeedInputs:
    """Everything the seed is made from (compute.cloudinit.seed_files' arguments)."""

    instance_id: str
    hostname: str
    ssh_keys: tuple[str, ...] = ()
    user_script: str = ""
    nics: tuple[cloudinit.GuestNic, ...] = ()


def vm_seed_inputs(vm: VirtualMachine) -> SeedInputs:
    """What the VM's guest is told at first boot: its identity, root's keys, its NICs.

    The instance id is the VM's UUID (stable across reboots and migrations, so cloud-init runs
    its first-boot modules once). No NICs: cloud-init then takes DHCP on the first interface,
    which is what the VM's single user-networking NIC gives (see vm_nics).
    """
    key = vm.ssh_public_key.strip()
    return SeedInputs(
        instance_id=str(vm.uuid),
        hostname=vm.name,
        ssh_keys=(key,) if key else (),
    )


def vm_nics(vm: VirtualMachine) -> tuple[hypervisor.NicSpec, ...] | None:
    """The VM's NICs as the domain gets them; None: one user-networking NIC (no MAC, no
    port forward), the NIC every VM has had so far."""
    return None


def seed_iso(vm: VirtualMachine) -> bytes:
    inputs = vm_seed_inputs(vm)
    files = cloudinit.seed_files(
        instance_id=inputs.instance_id,
        hostname=inputs.hostname,
        ssh_keys=inputs.ssh_keys,
        user_script=inputs.user_script,
        nics=inputs.nics,
    )
    return cloudinit.seed_iso(files)


def seed_ensure(*, vm: VirtualMachine, host: Host) -> str:
    """Build the VM's seed and upload it into the host's pool (again, on a rerun); its path."""
    return hypervisor.ensure_seed_volume(
        host.uri, pool=host.storage_pool, name=vm.seed_volume_name, data=seed_iso(vm)
    )


def seed_path(*, vm: VirtualMachine, host: Host) -> str:
    """The seed's path on the host, or "" for a VM provisioned before seeds existed."""
    return hypervisor.volume_path(host.uri, pool=host.storage_pool, name=vm.seed_volume_name) or ""


def seed_remove(*, vm: VirtualMachine, host: Host) -> bool:
    """Delete the seed volume; False if there was none."""
    return hypervisor.remove_volume(host.uri, pool=host.storage_pool, name=vm.seed_volume_name)
