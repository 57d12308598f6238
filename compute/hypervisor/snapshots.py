"""Internal snapshots of a domain (kept inside its qcow2 disks): take, revert, delete, list.

Each call is idempotent, so that an operation step can be run again after a crash: taking a
snapshot that exists, or deleting one that is gone, does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import libvirt
from lxml import etree

from compute.hypervisor.connection import call
from compute.hypervisor.errors import HypervisorError
from compute.hypervisor.xml import without_memory_hard_limit


@dataclass(frozen=True)
class SnapshotTaken:
    # False when the snapshot already existed (a rerun): nothing measured then.
    created: bool
    # What the snapshot added to the domain's disk file(s) on the host, in bytes.
    size_bytes: int


def _domain(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise HypervisorError("The VM's domain no longer exists on its host.") from exc
        raise


def _snapshot(dom: libvirt.virDomain, name: str) -> libvirt.virDomainSnapshot | None:
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return None
        raise


def disk_usage(conn: libvirt.virConnect, dom: libvirt.virDomain) -> tuple[bool, int]:
    """Whether the domain runs, and the bytes its disk files take on the host, from one call:
    per disk the larger of what QEMU has written (allocation) and the file's size (physical)."""
    flags = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BLOCK
    ((_dom, stats),) = conn.domainListGetStats([dom], flags)
    running = stats.get("state.state", libvirt.VIR_DOMAIN_SHUTOFF) != libvirt.VIR_DOMAIN_SHUTOFF
    total = 0
    for i in range(int(stats.get("block.count", 0))):
        total += max(
            int(stats.get(f"block.{i}.allocation", 0)), int(stats.get(f"block.{i}.physical", 0))
        )
    return running, total


def snapshot_xml(name: str, *, with_memory: bool, description: str = "") -> str:
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    etree.SubElement(root, "memory", snapshot="internal" if with_memory else "no")
    return etree.tostring(root, encoding="unicode")


def create_snapshot(
    uri: str, *, domain_uuid: str, name: str, with_memory: bool, description: str = ""
) -> SnapshotTaken:
    """Take an internal snapshot: with the guest's memory of a running domain (live, the guest
    goes on), or of the disks of a shut-off one. Its size is the growth of the disk files,
    measured on the same connection just before and after (one stats call each).

    Four calls, those a caller needs for the same result (the domain, its stats, the snapshot,
    its stats): no lookup of the snapshot first. A rerun finds it when libvirt refuses the name
    (it checks the name before taking anything) or the domain's state no longer fits, and only
    then looks it up."""

    def fn(conn: libvirt.virConnect) -> SnapshotTaken:
        dom = _domain(conn, domain_uuid)
        active, before = disk_usage(conn, dom)
        if with_memory != active:
            if _snapshot(dom, name) is not None:  # a rerun: taken before the state changed
                return SnapshotTaken(created=False, size_bytes=0)
            if with_memory:
                raise HypervisorError("A snapshot with memory needs the VM running.")
            raise HypervisorError("A disk-only snapshot needs the VM stopped.")
        xml = snapshot_xml(name, with_memory=with_memory, description=description)
        try:
            dom.snapshotCreateXML(xml)
        except libvirt.libvirtError:
            if _snapshot(dom, name) is not None:  # a rerun: it exists already
                return SnapshotTaken(created=False, size_bytes=0)
            raise
        _active, after = disk_usage(conn, dom)
        return SnapshotTaken(created=True, size_bytes=max(0, after - before))

    return call(uri, fn, timeout=None)  # saving the memory of a large guest takes a while


def revert_snapshot(uri: str, *, domain_uuid: str, name: str, with_memory: bool = False) -> None:
    """Bring the domain back to the snapshot: running if it was taken with memory, shut off if
    not (without RUNNING or PAUSED flags, libvirt leaves it in the snapshot's state; a snapshot
    with memory is taken of a running domain only). Three calls, those a caller needs: the
    domain, the snapshot, the revert; its state is not asked again afterwards.

    `with_memory`: the revert starts QEMU from the domain saved in the snapshot, live XML with
    the memory hard limit of then (see `xml.without_memory_hard_limit`): the snapshot is read
    and, if it has one, defined again without it first (two calls more). The caller sets the
    limit again on the running domain."""

    def fn(conn: libvirt.virConnect) -> None:
        dom = _domain(conn, domain_uuid)
        snap = _snapshot(dom, name)
        if snap is None:
            raise HypervisorError("The snapshot no longer exists on the host.")
        if with_memory:
            saved = without_memory_hard_limit(
                snap.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE)
            )
            if saved is not None:
                dom.snapshotCreateXML(saved, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        # FORCE: a revert across a change of state (running to shut off and back) is wanted.
        dom.revertToSnapshot(snap, libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)

    call(uri, fn, timeout=None)  # as long as loading the memory back takes


def delete_snapshot(uri: str, *, domain_uuid: str, name: str) -> bool:
    """Delete the snapshot (its data in the disk files too); False if it was already gone."""

    def fn(conn: libvirt.virConnect) -> bool:
        try:
            dom = _domain(conn, domain_uuid)
        except HypervisorError:
            return False  # no domain, no snapshot
        snap = _snapshot(dom, name)
        if snap is None:
            return False
        snap.delete(0)
        return True

    return call(uri, fn)


def snapshot_names(uri: str, *, domain_uuid: str) -> list[str]:
    """The domain's snapshots by name (none if it has no domain)."""

    def fn(conn: libvirt.virConnect) -> list[str]:
        try:
            dom = _domain(conn, domain_uuid)
        except HypervisorError:
            return []
        return sorted(snap.getName() for snap in dom.listAllSnapshots(0))

    return call(uri, fn)


def delete_all_snapshots(uri: str, *, domain_uuid: str) -> int:
    """Delete every snapshot of the domain (before it is undefined); returns how many."""

    def fn(conn: libvirt.virConnect) -> int:
        try:
            dom = _domain(conn, domain_uuid)
        except HypervisorError:
            return 0
        count = 0
        for snap in dom.listAllSnapshots(0):
            try:
                snap.delete(0)
                count += 1
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                    raise
        return count

    return call(uri, fn)
