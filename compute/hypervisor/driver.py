"""Idempotent operations on one libvirt host: each can be rerun after a crash and goes on."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import libvirt
from lxml import etree

from compute.hypervisor import connection
from compute.hypervisor.connection import call
from compute.hypervisor.errors import HypervisorError
from compute.hypervisor.xml import (
    ContainerSpec,
    DomainSpec,
    NetworkSpec,
    NicSpec,
    ResourceLimits,
    container_domain_xml,
    domain_xml,
    network_facts,
    network_has_dhcp,
    network_xml,
    raw_volume_xml,
    volume_xml,
    without_memory_hard_limit,
)

__all__ = [
    "ContainerSpec",
    "DomainSpec",
    "DomainStats",
    "HostInfo",
    "NetworkSpec",
    "NicSpec",
    "ResourceLimits",
]

_STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
NO_DOMAIN = "no_domain"


@dataclass(frozen=True)
class HostInfo:
    cpus: int
    memory_mib: int
    hostname: str


def _lookup(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def _pool(conn: libvirt.virConnect, pool: str) -> libvirt.virStoragePool:
    try:
        p = conn.storagePoolLookupByName(pool)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise HypervisorError(f"The host has no storage pool named '{pool}'.") from exc
        raise
    if not p.isActive():
        p.create()
    return p


def _rescan(p: libvirt.virStoragePool, *, patience: float = 2.0) -> None:
    """Refresh the pool's view of its files (volumes another host made in a shared pool).

    libvirt refuses a refresh while a volume of the pool is being uploaded or built ("has
    asynchronous jobs running"): several VMs provisioned at once on one host do that. Such a
    refresh is retried for a moment, then skipped: the lookups that follow see what libvirt
    already knows, which includes everything made through this host.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            p.refresh(0)
            return
        except libvirt.libvirtError as exc:
            if "asynchronous jobs" not in (exc.get_error_message() or ""):
                raise
            if time.monotonic() > deadline:
                return
        time.sleep(0.05)


def _volume(p: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return p.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def host_info(uri: str) -> HostInfo:
    def fn(conn: libvirt.virConnect) -> HostInfo:
        info = conn.getInfo()
        return HostInfo(cpus=int(info[2]), memory_mib=int(info[1]), hostname=conn.getHostname())

    return call(uri, fn)


def pool_capacity_gib(uri: str, pool: str) -> int:
    """The storage pool's size in GiB (what placement shares out among the VMs' disks)."""

    def fn(conn: libvirt.virConnect) -> int:
        p = _pool(conn, pool)
        _rescan(p)
        return int(p.info()[1]) // 2**30

    return call(uri, fn)


def ensure_volume(
    uri: str, *, pool: str, name: str, capacity_gib: int, backing_volume: str | None
) -> str:
    """Create the VM's qcow2 disk (an overlay when a base volume is given); adopt it if present."""

    def fn(conn: libvirt.virConnect) -> str:
        p = _pool(conn, pool)
        existing = _volume(p, name)
        if existing is None:
            # Another host may have made it in a shared pool: look again after a rescan.
            _rescan(p)
            existing = _volume(p, name)
        if existing is not None:
            return str(existing.path())
        backing_path = None
        if backing_volume:
            base = _volume(p, backing_volume)
            if base is None:
                raise HypervisorError(
                    f"The image's base volume '{backing_volume}' is missing from pool '{pool}'."
                )
            backing_path = base.path()
        xml = volume_xml(name=name, capacity_gib=capacity_gib, backing_path=backing_path)
        return str(p.createXML(xml, 0).path())

    return call(uri, fn)


_UPLOAD_CHUNK = 256 * 1024


def _upload(conn: libvirt.virConnect, vol: libvirt.virStorageVol, data: bytes) -> None:
    stream = conn.newStream(0)
    try:
        vol.upload(stream, 0, len(data), 0)
        view = memoryview(data)
        while view:
            sent = stream.send(bytes(view[:_UPLOAD_CHUNK]))
            if sent <= 0:
                raise HypervisorError("The host stopped taking the upload of the VM's seed.")
            view = view[sent:]
        stream.finish()
    except BaseException:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass  # the stream is already closed by the error that got us here
        raise


def ensure_seed_volume(uri: str, *, pool: str, name: str, data: bytes) -> str:
    """Put `data` (the cloud-init seed ISO) into a raw volume of the pool; return its path.

    The seed is built on the worker and sent through the libvirt connection, so a remote host
    needs no shared file system. A rerun uploads the seed again; a volume of another size
    (a seed built from changed inputs) is replaced. Libvirt's test driver cannot upload: on a
    simulated host the volume is made with the right size and stays empty.
    """

    def fn(conn: libvirt.virConnect) -> str:
        p = _pool(conn, pool)
        vol = _volume(p, name)
        if vol is None:
            _rescan(p)
            vol = _volume(p, name)
        if vol is not None and int(vol.info()[1]) != len(data):
            vol.delete(0)
            vol = None
        if vol is None:
            vol = p.createXML(raw_volume_xml(name=name, size_bytes=len(data)), 0)
        if not _is_test(uri):
            _upload(conn, vol, data)
        return str(vol.path())

    return call(uri, fn)


def volume_path(uri: str, *, pool: str, name: str) -> str | None:
    """The volume's path, or None if the pool has no such volume (after a rescan)."""

    def fn(conn: libvirt.virConnect) -> str | None:
        p = _pool(conn, pool)
        vol = _volume(p, name)
        if vol is None:
            _rescan(p)
            vol = _volume(p, name)
        return None if vol is None else str(vol.path())

    return call(uri, fn)


def remove_volume(uri: str, *, pool: str, name: str) -> bool:
    """Delete the volume; False if there was none (already removed)."""

    def fn(conn: libvirt.virConnect) -> bool:
        p = _pool(conn, pool)
        vol = _volume(p, name)
        if vol is None:
            return False
        vol.delete(0)
        return True

    return call(uri, fn)


def ensure_domain_defined(uri: str, spec: DomainSpec) -> bool:
    """Define the domain unless one with the same UUID exists; True if it was defined now."""

    def fn(conn: libvirt.virConnect) -> bool:
        if _lookup(conn, spec.uuid) is not None:
            return False
        conn.defineXML(domain_xml(spec))
        return True

    return call(uri, fn)


def redefine_domain(uri: str, spec: DomainSpec) -> bool:
    """Define the domain from `spec` again (a resize: new vCPUs, memory and limits), stopped.

    Refuses a running domain: its new definition would only apply at the next cold start.
    True if the definition changed, False if it already was this one (a rerun).
    """

    def fn(conn: libvirt.virConnect) -> bool:
        dom = _require(conn, spec.uuid)
        if dom.isActive():
            raise HypervisorError("The VM must be stopped to change its size.")
        before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        conn.defineXML(domain_xml(spec))
        after = _require(conn, spec.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        return before != after

    return call(uri, fn)


def set_memory_hard_limit(uri: str, uuid: str, *, mib: int) -> None:
    """Cap the running domain's memory (guest RAM and QEMU's overhead) at `mib`.

    Applied live (virDomainSetMemoryParameters) rather than in the XML's <memtune>: there, the
    start fails on hosts where QEMU may not raise its locked-memory limit. A stopped domain is
    left alone (the limit is applied again at its next start).
    """

    def fn(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        if not dom.isActive():
            return
        dom.setMemoryParameters(
            {libvirt.VIR_DOMAIN_MEMORY_HARD_LIMIT: mib * 1024}, libvirt.VIR_DOMAIN_AFFECT_LIVE
        )

    call(uri, fn)


# VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, a C macro the Python binding does not export.
_MEMORY_UNLIMITED_KIB = 9007199254740991


def memory_hard_limit_mib(uri: str, uuid: str) -> int | None:
    """The running domain's memory hard limit in MiB, None when it has none."""

    def fn(conn: libvirt.virConnect) -> int | None:
        params = _require(conn, uuid).memoryParameters(0)
        kib = int(params.get(libvirt.VIR_DOMAIN_MEMORY_HARD_LIMIT, 0))
        return None if kib >= _MEMORY_UNLIMITED_KIB else kib // 1024

    return call(uri, fn)


def _require(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain:
    dom = _lookup(conn, uuid)
    if dom is None:
        raise HypervisorError("The VM's domain no longer exists on its host.")
    return dom


def host_driver(uri: str) -> str:
    """The host's hypervisor driver as libvirt names it: "QEMU", "LXC", "TEST"..."""
    return str(call(uri, lambda conn: conn.getType())).upper()


def ensure_container_defined(uri: str, spec: ContainerSpec) -> bool:
    """Define the container unless one with the same UUID exists; True if it was defined now."""

    def fn(conn: libvirt.virConnect) -> bool:
        if _lookup(conn, spec.uuid) is not None:
            return False
        conn.defineXML(container_domain_xml(spec))
        return True

    return call(uri, fn)


def ensure_domain_running(uri: str, uuid: str) -> None:
    def fn(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        state = dom.state()[0]
        if state == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
        elif state != libvirt.VIR_DOMAIN_RUNNING:
            dom.create()

    call(uri, fn)


def ensure_domain_stopped(
    uri: str, uuid: str, *, grace_seconds: float, signal: bool = False
) -> bool:
    """Ask the guest to shut down (a container: SIGTERM to its init, `signal`); power it off
    after the grace period. True if it was graceful."""

    def state() -> int:
        return int(call(uri, lambda conn: _require(conn, uuid).state()[0]))

    if state() == libvirt.VIR_DOMAIN_SHUTOFF:
        return True

    def ask(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        if signal and not _is_test(uri):
            # A container has no ACPI: its init gets SIGTERM.
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL)
        else:
            dom.shutdown()

    try:
        call(uri, ask)
    except HypervisorError:
        pass  # the guest may already be going down; the loop below decides
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if state() == libvirt.VIR_DOMAIN_SHUTOFF:
            return True
        time.sleep(0.25)

    def force(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        if dom.isActive():
            dom.destroy()

    call(uri, force)
    return False


def reboot_domain(uri: str, uuid: str) -> None:
    def fn(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        if not dom.isActive():
            dom.create()
            return
        dom.reboot(0)

    call(uri, fn)


def remove_domain(uri: str, uuid: str) -> bool:
    """Power off and undefine the domain; False if there was none (already removed)."""

    def fn(conn: libvirt.virConnect) -> bool:
        dom = _lookup(conn, uuid)
        if dom is None:
            return False
        if dom.isActive():
            dom.destroy()
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        )
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError:
            try:
                # A driver without NVRAM support: the snapshots' metadata must still go with it
                # (an undefine without this flag is refused while the domain has snapshots).
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
            except libvirt.libvirtError:
                dom.undefine()
        return True

    return call(uri, fn)


def domain_runtime_state(uri: str, uuid: str) -> str:
    def fn(conn: libvirt.virConnect) -> str:
        dom = _lookup(conn, uuid)
        if dom is None:
            return NO_DOMAIN
        return _STATE_NAMES.get(dom.state()[0], "unknown")

    return call(uri, fn)


def domain_list(uri: str) -> list[tuple[str, str, str]]:
    """Every domain on the host as (uuid, name, state), in one call."""

    def fn(conn: libvirt.virConnect) -> list[tuple[str, str, str]]:
        return [
            (dom.UUIDString(), dom.name(), _STATE_NAMES.get(dom.state()[0], "unknown"))
            for dom in conn.listAllDomains(0)
        ]

    return call(uri, fn)


def domain_runtime_states(uri: str) -> dict[str, str]:
    """Every domain on the host by UUID, in one call."""

    def fn(conn: libvirt.virConnect) -> dict[str, str]:
        return {
            dom.UUIDString(): _STATE_NAMES.get(dom.state()[0], "unknown")
            for dom in conn.listAllDomains(0)
        }

    return call(uri, fn)


# Live migration, peer to peer: the source's libvirtd talks to the target's. The disk goes along
# (non-shared storage): the target volume must exist first, with the same name in the same pool.
MIGRATION_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_NON_SHARED_DISK
    # QEMU refuses a live migration of a disk whose cache mode is not "none" unless told it is
    # safe; the disk is copied block by block and flushed before the switch-over.
    | libvirt.VIR_MIGRATE_UNSAFE
)
# What copies the disks: left out between hosts on the same shared storage.
COPY_STORAGE_FLAGS = libvirt.VIR_MIGRATE_NON_SHARED_DISK


def _is_test(uri: str) -> bool:
    return uri.startswith("test://")


def _data_uri(target_uri: str) -> str:
    """Where QEMU sends memory and disk: the target's address from its libvirt URI."""
    host = urlsplit(target_uri).hostname
    return f"tcp://{host or '127.0.0.1'}"


def _domain_active(uri: str, uuid: str) -> bool:
    def fn(conn: libvirt.virConnect) -> bool:
        dom = _lookup(conn, uuid)
        return dom is not None and bool(dom.isActive())

    return call(uri, fn)


def migrate_domain(
    source_uri: str, target_uri: str, *, target_peer_uri: str, uuid: str, copy_storage: bool = True
) -> bool:
    """Live-migrate a running domain with its disks; False if it already runs on the target.

    `copy_storage` False: the target reaches the same disks (shared storage), only the memory
    moves; copying a disk onto itself would corrupt it.

    `target_peer_uri` is how the source's libvirtd reaches the target (it can differ from how
    Nuage reaches it). On simulated hosts (libvirt's test driver has no migration) the domain's
    definition is moved and started on the target instead, which is what the rest of Nuage sees.

    The domain arrives without its live memory hard limit (see `without_memory_hard_limit`),
    as after any start: the caller sets it again on the target.
    """
    if _domain_active(target_uri, uuid):
        return False

    def fn(conn: libvirt.virConnect) -> None:
        dom = _require(conn, uuid)
        if not dom.isActive():
            raise HypervisorError("The VM is not running on its host; it cannot be live-migrated.")
        if _is_test(source_uri) and _is_test(target_uri):
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            call(target_uri, lambda target: target.defineXML(xml).create())
            dom.destroy()
            dom.undefine()
            return
        params = {libvirt.VIR_MIGRATE_PARAM_URI: _data_uri(target_uri)}
        # The target starts QEMU from the live XML: without the memory hard limit, which
        # would make that start fail as it does at a cold one; the caller applies it there
        # again (`set_memory_hard_limit`). SECURE keeps the console's VNC password.
        live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE)
        dest_xml = without_memory_hard_limit(live)
        if dest_xml is not None:
            params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = dest_xml
        flags = MIGRATION_FLAGS if copy_storage else MIGRATION_FLAGS & ~COPY_STORAGE_FLAGS
        dom.migrateToURI3(target_peer_uri, params, flags)

    call(source_uri, fn, timeout=None)  # as long as the copy takes; keepalive watches the host
    return True


def _network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise


def ensure_network(uri: str, spec: NetworkSpec) -> bool:
    """Define, autostart and start the network unless it is there; True if defined now.

    An existing network of that name is adopted when it is what Nuage would define (same
    forward kind, bridge and host address, no DHCP); otherwise this raises, naming what differs,
    rather than change a network someone else may rely on.
    """

    def fn(conn: libvirt.virConnect) -> bool:
        net = _network(conn, spec.name)
        created = net is None
        if net is None:
            try:
                net = conn.networkDefineXML(network_xml(spec))
            except libvirt.libvirtError:
                # Another worker defining it at the same moment (VMs provisioned at once).
                net = _network(conn, spec.name)
                if net is None:
                    raise
                created = False
        if not created:
            xml = net.XMLDesc(0)
            found = network_facts(xml)
            wanted = (spec.kind, spec.bridge, spec.gateway, spec.prefix)
            if found != wanted or network_has_dhcp(xml):
                raise HypervisorError(
                    f"The host already has a network named '{spec.name}' that differs from "
                    f"Nuage's (kind, bridge, address, prefix {found}, DHCP "
                    f"{'on' if network_has_dhcp(xml) else 'off'}; wanted {wanted}, DHCP off): "
                    "remove it or rename the Nuage network."
                )
        if not net.autostart():
            net.setAutostart(1)
        if not net.isActive():
            try:
                net.create()
            except libvirt.libvirtError:
                if not net.isActive():  # not merely started by a concurrent call
                    raise
        return created

    return call(uri, fn)


def remove_network(uri: str, name: str) -> bool:
    """Stop and undefine the network; False if there was none (already removed)."""

    def fn(conn: libvirt.virConnect) -> bool:
        net = _network(conn, name)
        if net is None:
            return False
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()
        return True

    return call(uri, fn)


def network_names(uri: str) -> list[str]:
    return call(uri, lambda conn: sorted(n.name() for n in conn.listAllNetworks(0)))


def host_alive(uri: str) -> None:
    """Raise HypervisorError unless the host's libvirtd answers (the HA heartbeat), soon: a
    hung host must not hold up the heartbeat of the others."""
    call(uri, lambda conn: conn.getLibVersion(), timeout=connection.CONNECT_TIMEOUT_SECONDS)


# --- measured use --------------------------------------------------------------------------

_STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BLOCK
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
# Running domains only (a shut-off domain uses nothing), and never wait on a domain that is busy
# with another job (a migration, a snapshot): its figures come at the next cycle instead.
_STATS_FLAGS = (
    libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
    | libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
)


@dataclass(frozen=True)
class DomainStats:
    """Cumulative counters of one running domain, as libvirt reports them at one instant."""

    uuid: str
    state: str
    cpu_time_ns: int
    vcpus: int
    # Balloon: what the guest currently has (KiB), and, where the guest reports it, what it
    # leaves unused out of what it can use; rss is the host's view of the QEMU process.
    memory_kib: int
    memory_available_kib: int | None
    memory_unused_kib: int | None
    memory_rss_kib: int | None
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int

    @property
    def memory_used_mib(self) -> int:
        """The guest's own view when it gives one (available - unused), else the host's (rss),
        else the balloon size."""
        if self.memory_available_kib is not None and self.memory_unused_kib is not None:
            used = max(self.memory_available_kib - self.memory_unused_kib, 0)
        elif self.memory_rss_kib is not None:
            used = self.memory_rss_kib
        else:
            used = self.memory_kib
        return used // 1024


def _sum_indexed(record: dict[str, int], prefix: str, field: str) -> int:
    count = int(record.get(f"{prefix}.count", 0))
    return sum(int(record.get(f"{prefix}.{i}.{field}", 0)) for i in range(count))


def _optional(record: dict[str, int], key: str) -> int | None:
    value = record.get(key)
    return None if value is None else int(value)


def _from_record(dom: libvirt.virDomain, record: dict[str, int]) -> DomainStats:
    return DomainStats(
        uuid=dom.UUIDString(),
        state=_STATE_NAMES.get(int(record.get("state.state", 0)), "unknown"),
        cpu_time_ns=int(record["cpu.time"]),
        vcpus=int(record.get("vcpu.current", 0)),
        memory_kib=int(record.get("balloon.current", 0)),
        memory_available_kib=_optional(record, "balloon.available"),
        memory_unused_kib=_optional(record, "balloon.unused"),
        memory_rss_kib=_optional(record, "balloon.rss"),
        disk_read_bytes=_sum_indexed(record, "block", "rd.bytes"),
        disk_write_bytes=_sum_indexed(record, "block", "wr.bytes"),
        net_rx_bytes=_sum_indexed(record, "net", "rx.bytes"),
        net_tx_bytes=_sum_indexed(record, "net", "tx.bytes"),
    )


def _from_domain_calls(dom: libvirt.virDomain, state: int) -> DomainStats:
    """The same figures from the per-domain calls, for drivers whose bulk answer has only the
    state group (libvirt's test driver). Those drivers run in-process: no round trips."""
    info = dom.info()
    mem = dom.memoryStats()
    tree = etree.fromstring(dom.XMLDesc(0))
    rd = wr = rx = tx = 0
    for target in tree.iterfind("devices/disk/target[@dev]"):
        stats = dom.blockStats(target.get("dev"))
        rd, wr = rd + int(stats[1]), wr + int(stats[3])
    for target in tree.iterfind("devices/interface/target[@dev]"):
        stats = dom.interfaceStats(target.get("dev"))
        rx, tx = rx + int(stats[0]), tx + int(stats[4])
    return DomainStats(
        uuid=dom.UUIDString(),
        state=_STATE_NAMES.get(state, "unknown"),
        cpu_time_ns=int(info[4]),
        vcpus=int(info[3]),
        memory_kib=int(mem.get("actual", info[2])),
        memory_available_kib=_optional(mem, "available"),
        memory_unused_kib=_optional(mem, "unused"),
        memory_rss_kib=_optional(mem, "rss"),
        disk_read_bytes=rd,
        disk_write_bytes=wr,
        net_rx_bytes=rx,
        net_tx_bytes=tx,
    )


def _per_domain_stats(conn: libvirt.virConnect) -> list[DomainStats]:
    """Every running domain's figures from the per-domain calls (LXC has no bulk call)."""
    out = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            out.append(_from_domain_calls(dom, int(dom.state()[0])))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise  # else it stopped between the listing and its calls: nothing to count
    return out


def domain_stats(uri: str) -> list[DomainStats]:
    """Counters of every running domain on the host, in one bulk call (getAllDomainStats).

    QEMU answers every group in that one call. Libvirt's test driver answers only the state
    group; its domains' figures are then read with the per-domain calls it does implement.
    The LXC driver has no bulk call at all: each running container is asked in turn (its CPU
    time, and its memory as the container's cgroup counts it).
    """

    def fn(conn: libvirt.virConnect) -> list[DomainStats]:
        try:
            records = conn.getAllDomainStats(_STATS_GROUPS, _STATS_FLAGS)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            return _per_domain_stats(conn)
        out = []
        for dom, record in records:
            if "cpu.time" in record:
                out.append(_from_record(dom, record))
            else:
                out.append(_from_domain_calls(dom, int(record.get("state.state", 0))))
        return out

    return call(uri, fn)


def _power_off(conn: libvirt.virConnect, uuid: str) -> None:
    dom = _lookup(conn, uuid)
    if dom is not None and dom.isActive():
        dom.destroy()


def cold_move_domain(
    source_uri: str, target_uri: str, *, target_peer_uri: str, uuid: str, copy_storage: bool = True
) -> bool:
    """Move a stopped domain, disk included (unless `copy_storage` is False: shared storage),
    to another host; it stays stopped there.

    The live migration's machinery copies the disk (non-shared storage): the domain is started
    paused on the source (the guest never runs), migrated, then powered off on the target. The
    target volume must exist first, as for a live migration. False if the domain already is
    on the target, stopped, and gone from the source (a rerun after a crash). A failed copy
    leaves the domain stopped on the source.
    """
    on_target = call(target_uri, lambda conn: _lookup(conn, uuid) is not None)
    on_source = call(source_uri, lambda conn: _lookup(conn, uuid) is not None)
    if on_target and not on_source and not _domain_active(target_uri, uuid):
        return False
    if not _domain_active(target_uri, uuid):

        def start_paused(conn: libvirt.virConnect) -> None:
            dom = _require(conn, uuid)
            if not dom.isActive():
                # Libvirt's test driver cannot start paused (nor run a guest): plain start.
                paused = 0 if _is_test(source_uri) else libvirt.VIR_DOMAIN_START_PAUSED
                dom.createWithFlags(paused)

        call(source_uri, start_paused)
        try:
            migrate_domain(
                source_uri,
                target_uri,
                target_peer_uri=target_peer_uri,
                uuid=uuid,
                copy_storage=copy_storage,
            )
        except HypervisorError:
            call(source_uri, lambda conn: _power_off(conn, uuid))
            raise
    call(target_uri, lambda conn: _power_off(conn, uuid))
    return True
