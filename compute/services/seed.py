"""A VM's cloud-init seed: what goes into it, and its volume beside the VM's disk on the host."""

from __future__ import annotations

from dataclasses import dataclass

from compute import cloudinit, hypervisor
from compute.models import Host, NetworkInterface, VirtualMachine


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
    its first-boot modules once). Root's keys are the ones the VM was given at request time
    (`authorized_keys`: its owner's key pairs and the pasted key). Each NIC Nuage allocated is
    configured by MAC: its static address, gateway and DNS from the network's pool, or DHCP on
    user networking. No NICs: cloud-init takes DHCP on the first interface, which is what the
    VM's single default user-networking NIC gives (see vm_nics).
    """
    keys = tuple(vm.authorized_keys) or (
        (vm.ssh_public_key.strip(),) if vm.ssh_public_key.strip() else ()
    )
    return SeedInputs(
        instance_id=str(vm.uuid),
        hostname=vm.name,
        ssh_keys=keys,
        nics=tuple(_guest_nic(nic) for nic in _ports(vm)),
    )


def _ports(vm: VirtualMachine) -> list[NetworkInterface]:
    return list(NetworkInterface.objects.unscoped().filter(vm_id=vm.pk).select_related("network"))


def _guest_nic(nic: NetworkInterface) -> cloudinit.GuestNic:
    if not nic.cidr:
        return cloudinit.GuestNic(mac=nic.mac)
    return cloudinit.GuestNic(
        mac=nic.mac,
        mode="static",
        address=nic.cidr,
        gateway=nic.network.gateway or "",
        dns=tuple(nic.network.dns_servers),
    )


def vm_nics(vm: VirtualMachine) -> tuple[hypervisor.NicSpec, ...] | None:
    """The VM's NICs as the domain gets them: one per port Nuage allocated (a host bridge, a
    libvirt network, or user networking with its SSH port forward). None, for a VM without
    ports (no network granted): one user-networking NIC, no MAC, no forward, as before."""
    ports = _ports(vm)
    if not ports:
        return None
    return tuple(
        hypervisor.NicSpec(
            kind=nic.libvirt_kind,  # type: ignore[arg-type]
            mac=nic.mac,
            source=nic.libvirt_source,
            host_port=nic.host_port,
        )
        for nic in ports
    )


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
