"""Data volumes on one libvirt host: grow them, and hot-plug them into a domain and out again.

Every function is idempotent: a rerun after a crash finds what the first run did and goes on.
Creating and removing a volume are `ensure_volume` and `remove_volume` (the VMs' disks use them
too). Libvirt's test driver has neither device hot-plug nor volume resize: on a simulated host
the disk is added to (or removed from) the domain's definition, and a volume is grown by
making it again at its new size (it holds no data there).
"""

from __future__ import annotations

import time

import libvirt

from compute.hypervisor.connection import call
from compute.hypervisor.driver import _is_test, _lookup, _pool, _require, _rescan, _volume
from compute.hypervisor.errors import HypervisorError
from compute.hypervisor.xml import (
    data_disk_xml,
    disk_element,
    disk_sources,
    volume_xml,
    with_disk,
    without_disk,
)

_INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


def grow_volume(
    uri: str,
    *,
    pool: str,
    name: str,
    capacity_gib: int,
    domain_uuid: str | None = None,
    target_dev: str = "",
) -> None:
    """Grow the volume to `capacity_gib` (never shrinks it). When a running domain has it as
    `target_dev`, the guest's QEMU grows it (block_resize: the guest sees the new size at once,
    and QEMU holds the image's lock); otherwise the pool does."""
    want = capacity_gib * 2**30

    def fn(conn: libvirt.virConnect) -> None:
        p = _pool(conn, pool)
        _rescan(p)
        vol = _volume(p, name)
        if vol is None:
            raise HypervisorError(f"The volume '{name}' is missing from pool '{pool}'.")
        if int(vol.info()[1]) >= want:
            return  # grown already (a rerun)
        if _is_test(uri):
            vol.delete(0)
            p.createXML(volume_xml(name=name, capacity_gib=capacity_gib, backing_path=None), 0)
            return
        dom = _lookup(conn, domain_uuid) if domain_uuid else None
        if dom is not None and dom.isActive() and target_dev in disk_sources(dom.XMLDesc(0)):
            dom.blockResize(target_dev, want, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            return
        vol.resize(want, 0)

    call(uri, fn)


def volume_capacity_gib(uri: str, *, pool: str, name: str) -> int | None:
    """The volume's size in whole GiB as the host reports it, or None if it has no such volume."""

    def fn(conn: libvirt.virConnect) -> int | None:
        p = _pool(conn, pool)
        _rescan(p)
        vol = _volume(p, name)
        return None if vol is None else int(vol.info()[1]) // 2**30

    return call(uri, fn)


def attach_disk(uri: str, *, domain_uuid: str, path: str, target_dev: str, serial: str) -> bool:
    """Plug the volume at `path` into the domain as `target_dev`: into its definition (config)
    and, when it runs, into the running guest too (live). True if something was attached now."""
    disk = data_disk_xml(path=path, target_dev=target_dev, serial=serial)

    def fn(conn: libvirt.virConnect) -> bool:
        dom = _require(conn, domain_uuid)
        config = disk_sources(dom.XMLDesc(_INACTIVE))
        live = disk_sources(dom.XMLDesc(0)) if dom.isActive() else {}
        for found in (config, live):
            if found.get(target_dev, path) != path:
                raise HypervisorError(
                    f"The VM already has another disk as {target_dev} ({found[target_dev]})."
                )
        if _is_test(uri):
            if target_dev in config:
                return False
            conn.defineXML(with_disk(dom.XMLDesc(_INACTIVE), disk))
            return True
        flags = 0
        if target_dev not in config:
            flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive() and target_dev not in live:
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        if flags:
            dom.attachDeviceFlags(disk, flags)
        return bool(flags)

    return call(uri, fn)


def detach_disk(uri: str, *, domain_uuid: str, target_dev: str, wait_seconds: float = 10) -> bool:
    """Unplug `target_dev` from the domain's definition and from the running guest.

    The live part needs the guest's cooperation (it releases the PCI device, as a hot-unplug on
    real hardware): this waits up to `wait_seconds` for it and returns False if the guest still
    holds the disk then (ask again later). True once the disk is gone from both, or when there
    is no domain at all.
    """

    def ask(conn: libvirt.virConnect) -> bool:
        dom = _lookup(conn, domain_uuid)
        if dom is None:
            return True
        inactive = dom.XMLDesc(_INACTIVE)
        if _is_test(uri):
            if target_dev in disk_sources(inactive):
                conn.defineXML(without_disk(inactive, target_dev))
            return True
        flags, element = 0, disk_element(inactive, target_dev)
        if element is not None:
            flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            live_element = disk_element(dom.XMLDesc(0), target_dev)
            if live_element is not None:
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
                element = live_element
        if not flags or element is None:
            return True
        try:
            dom.detachDeviceFlags(element, flags)
        except libvirt.libvirtError as exc:
            # An unplug already asked of the guest and not finished yet: wait for it below.
            if "already in the process of unplug" not in (exc.get_error_message() or ""):
                raise
            if flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG:
                dom.detachDeviceFlags(element, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        return False

    if call(uri, ask):
        return True

    def gone(conn: libvirt.virConnect) -> bool:
        dom = _lookup(conn, domain_uuid)
        return dom is None or not dom.isActive() or target_dev not in disk_sources(dom.XMLDesc(0))

    deadline = time.monotonic() + wait_seconds
    while True:
        if call(uri, gone):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def domain_disks(uri: str, domain_uuid: str, *, live: bool = True) -> dict[str, str]:
    """target dev -> source path of the domain's disks (live when it runs, else its definition)."""

    def fn(conn: libvirt.virConnect) -> dict[str, str]:
        dom = _require(conn, domain_uuid)
        flags = 0 if live and dom.isActive() else _INACTIVE
        return disk_sources(dom.XMLDesc(flags))

    return call(uri, fn)
