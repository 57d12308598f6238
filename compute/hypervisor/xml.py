"""Domain and volume XML, built with lxml so that no value is ever spliced into markup."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

METADATA_NS = "urn:nuage:libvirt:vm:1"
# libvirt's passthrough of QEMU arguments: how a user-networking NIC gets a host port forward
# and `restrict=on` (libvirt 9.0 has no <portForward> without passt, which it refuses here,
# and no way to ask for restrict).
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# PCI slots for the NICs libvirt does not know about, from the top of bus 0 down: libvirt
# numbers its own devices from slot 2 up, so the two never meet.
_PASSTHROUGH_TOP_SLOT = 0x1F
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$")

NicKind = Literal["user", "network", "bridge"]


@dataclass(frozen=True)
class NicSpec:
    """One NIC: on a libvirt network or host bridge (`source`), or QEMU user networking.

    A `user` NIC with a `host_port` forwards 127.0.0.1:host_port on the host to the guest's
    port 22 (how a VM on user networking is reached by SSH).
    """

    kind: NicKind
    mac: str
    source: str = ""
    host_port: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("user", "network", "bridge"):
            raise ValueError(f"unknown NIC kind {self.kind!r}")
        if not _MAC.match(self.mac):
            raise ValueError(f"not a lowercase MAC address: {self.mac!r}")
        if self.kind == "user":
            if self.source:
                raise ValueError("a user-networking NIC has no source")
            if self.host_port is not None and not 1024 <= self.host_port <= 65535:
                raise ValueError(f"host port {self.host_port} is outside 1024-65535")
        else:
            if not _SOURCE.match(self.source):
                raise ValueError(f"a {self.kind} NIC needs a network or bridge name")
            if self.host_port is not None:
                raise ValueError("only a user-networking NIC can forward a host port")

    @property
    def forwards(self) -> bool:
        return self.kind == "user" and self.host_port is not None


@dataclass(frozen=True)
class ResourceLimits:
    """A flavor's limits on one domain; 0 is no limit.

    CPU shares and the cap go in `<cputune>` (the cap as a CFS quota per vCPU over a 100 ms
    period), disk limits in `<iotune>` on the disk (QEMU's own throttling), network limits in
    `<bandwidth>` on each interface libvirt manages (KiB/s). The memory hard limit is not in
    the XML: in `<memtune>` it makes the start fail on hosts where QEMU may not raise its
    locked-memory limit, so the driver applies it to the running domain instead.
    """

    cpu_shares: int = 0
    cpu_cap_percent: int = 0
    memory_hard_limit_mib: int = 0
    disk_read_iops: int = 0
    disk_write_iops: int = 0
    disk_read_bytes_sec: int = 0
    disk_write_bytes_sec: int = 0
    net_in_kib_s: int = 0
    net_out_kib_s: int = 0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if self.cpu_cap_percent > 100:
            raise ValueError("the CPU cap is a percentage of one vCPU (1-100)")

    @property
    def cpu_quota_us(self) -> int:
        """The CFS quota per vCPU for the cap, over CPU_PERIOD_US (0: none)."""
        return CPU_PERIOD_US * self.cpu_cap_percent // 100


CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class DataDiskSpec:
    """A data volume attached to a domain (see `data_disk_xml`)."""

    path: str
    target_dev: str
    serial: str


@dataclass(frozen=True)
class DomainSpec:
    name: str
    uuid: str
    title: str
    vcpus: int
    memory_mib: int
    disk_path: str
    domain_type: str = "qemu"
    kernel: str = ""
    initrd: str = ""
    cmdline: str = ""
    serial_log: str = ""
    tenant: str = ""
    # The cloud-init NoCloud seed (an ISO in the host's pool), attached as a read-only CD-ROM.
    seed_path: str = ""
    # None: one user-networking NIC without a MAC or port forward (what every VM had before).
    nics: tuple[NicSpec, ...] | None = None
    # Set: a VNC display on the host's loopback, behind this password (at most 8 characters).
    vnc_password: str = ""
    # The flavor's limits (cgroups, QEMU I/O throttling, interface bandwidth).
    limits: ResourceLimits = ResourceLimits()
    # The data volumes attached to it, so that a redefinition (a resize, a restart elsewhere)
    # keeps them.
    data_disks: tuple[DataDiskSpec, ...] = ()
    # QEMU's `restrict=on` on every user-networking NIC. QEMU's user networking maps the
    # gateway alias 10.0.2.2 to the host's 127.0.0.1, so an unrestricted guest reaches every
    # loopback service of its host (libvirtd's TCP port, PostgreSQL, Redis...). Restricted, the
    # guest reaches neither the host nor anything beyond it; its forwarded SSH port still
    # works. libvirt 9.0 cannot ask for it, so restricted user NICs all go on QEMU's command
    # line, forwarded or not.
    user_net_restricted: bool = True


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _bandwidth(iface: etree._Element, limits: ResourceLimits) -> None:
    # libvirt shapes a network or bridge NIC's traffic with tc; inbound is what the guest
    # receives, outbound what it sends.
    if iface.get("type") == "user" or not (limits.net_in_kib_s or limits.net_out_kib_s):
        return
    bandwidth = _sub(iface, "bandwidth")
    if limits.net_in_kib_s:
        _sub(bandwidth, "inbound", average=str(limits.net_in_kib_s))
    if limits.net_out_kib_s:
        _sub(bandwidth, "outbound", average=str(limits.net_out_kib_s))


def _cputune(dom: etree._Element, limits: ResourceLimits) -> None:
    if not (limits.cpu_shares or limits.cpu_cap_percent):
        return
    cputune = _sub(dom, "cputune")
    if limits.cpu_shares:
        _sub(cputune, "shares", str(limits.cpu_shares))
    if limits.cpu_cap_percent:
        _sub(cputune, "period", str(CPU_PERIOD_US))
        _sub(cputune, "quota", str(limits.cpu_quota_us))


def _iotune(disk: etree._Element, limits: ResourceLimits) -> None:
    values = [
        ("read_bytes_sec", limits.disk_read_bytes_sec),
        ("write_bytes_sec", limits.disk_write_bytes_sec),
        ("read_iops_sec", limits.disk_read_iops),
        ("write_iops_sec", limits.disk_write_iops),
    ]
    if not any(v for _name, v in values):
        return
    iotune = _sub(disk, "iotune")
    for name, value in values:  # the order libvirt's schema gives
        if value:
            _sub(iotune, name, str(value))


def _on_qemu_commandline(spec: DomainSpec) -> list[NicSpec | None]:
    """The user-networking NICs QEMU gets directly: the port-forwarded ones, and every one when
    restricted. None stands for the single MAC-less NIC of a VM without ports."""
    if spec.nics is None:
        return [None] if spec.user_net_restricted else []
    return [n for n in spec.nics if n.kind == "user" and (n.forwards or spec.user_net_restricted)]


def _interfaces(
    devices: etree._Element, spec: DomainSpec, passthrough: list[NicSpec | None]
) -> None:
    """The NICs libvirt manages (the others go on QEMU's command line)."""
    if spec.nics is None:
        if passthrough:
            return
        iface = _sub(devices, "interface", type_="user")
        _sub(iface, "model", type_="virtio")
        _bandwidth(iface, spec.limits)
        return
    for nic in spec.nics:
        if nic in passthrough:
            continue
        iface = _sub(devices, "interface", type_=nic.kind)
        _sub(iface, "mac", address=nic.mac)
        if nic.kind == "network":
            _sub(iface, "source", network=nic.source)
        elif nic.kind == "bridge":
            _sub(iface, "source", bridge=nic.source)
        _sub(iface, "model", type_="virtio")
        _bandwidth(iface, spec.limits)


def _qemu_commandline(dom: etree._Element, nics: list[NicSpec | None], *, restricted: bool) -> None:
    cmdline = etree.SubElement(dom, f"{{{QEMU_NS}}}commandline")
    for index, nic in enumerate(nics):
        netdev = f"nuagenet{index}"
        slot = _PASSTHROUGH_TOP_SLOT - index
        # Every value below is ours or validated by NicSpec (a MAC, a port number): nothing
        # can add a comma-separated QEMU option.
        backend = f"user,id={netdev}"
        if restricted:
            backend += ",restrict=on"
        if nic is not None and nic.host_port is not None:
            backend += f",hostfwd=tcp:127.0.0.1:{nic.host_port}-:22"
        device = f"virtio-net-pci,netdev={netdev}"
        if nic is not None:
            device += f",mac={nic.mac}"
        for value in ("-netdev", backend, "-device", f"{device},bus=pci.0,addr={slot:#04x}"):
            etree.SubElement(cmdline, f"{{{QEMU_NS}}}arg", value=value)


def domain_xml(spec: DomainSpec) -> str:
    passthrough = _on_qemu_commandline(spec)
    if len(passthrough) > 8:
        raise ValueError("at most 8 user-networking NICs")
    nsmap = {"qemu": QEMU_NS} if passthrough else None
    dom = etree.Element("domain", type=spec.domain_type, nsmap=nsmap)
    _sub(dom, "name", spec.name)
    _sub(dom, "uuid", spec.uuid)
    _sub(dom, "title", spec.title)
    meta = _sub(dom, "metadata")
    nuage = etree.SubElement(meta, f"{{{METADATA_NS}}}vm", nsmap={"nuage": METADATA_NS})
    etree.SubElement(nuage, f"{{{METADATA_NS}}}tenant").text = spec.tenant
    _sub(dom, "memory", str(spec.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    _cputune(dom, spec.limits)

    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    if spec.kernel:
        _sub(os_el, "kernel", spec.kernel)
        if spec.initrd:
            _sub(os_el, "initrd", spec.initrd)
        if spec.cmdline:
            _sub(os_el, "cmdline", spec.cmdline)
    else:
        _sub(os_el, "boot", dev="hd")

    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")

    devices = _sub(dom, "devices")
    disk = _sub(devices, "disk", type_="file", device="disk")
    _sub(disk, "driver", name="qemu", type_="qcow2")
    _sub(disk, "source", file=spec.disk_path)
    _sub(disk, "target", dev="vda", bus="virtio")
    _iotune(disk, spec.limits)
    for data in spec.data_disks:
        devices.append(
            etree.fromstring(
                data_disk_xml(path=data.path, target_dev=data.target_dev, serial=data.serial)
            )
        )
    if spec.seed_path:
        # IDE on the `pc` machine: distribution kernels carry its drivers (ata_piix, sr_mod).
        cdrom = _sub(devices, "disk", type_="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type_="raw")
        _sub(cdrom, "source", file=spec.seed_path)
        _sub(cdrom, "target", dev="hdc", bus="ide")
        _sub(cdrom, "readonly")
    _interfaces(devices, spec, passthrough)
    serial = _sub(devices, "serial", type_="pty")
    if spec.serial_log:
        _sub(serial, "log", file=spec.serial_log, append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type_="pty")
    _sub(console, "target", type_="serial", port="0")
    if spec.vnc_password:
        _sub(
            devices,
            "graphics",
            type_="vnc",
            autoport="yes",
            listen="127.0.0.1",
            passwd=spec.vnc_password,
        )
    balloon = _sub(devices, "memballoon", model="virtio")
    # The guest's balloon driver reports what it leaves unused every 10 s: metering reads the
    # memory a guest really uses from it (without it, only the host's view, the process RSS).
    _sub(balloon, "stats", period="10")
    if passthrough:
        _qemu_commandline(dom, passthrough, restricted=spec.user_net_restricted)
    return etree.tostring(dom, encoding="unicode")


def volume_xml(*, name: str, capacity_gib: int, backing_path: str | None) -> str:
    vol = etree.Element("volume")
    _sub(vol, "name", name)
    _sub(vol, "capacity", str(capacity_gib), unit="GiB")
    _sub(vol, "allocation", "0")
    target = _sub(vol, "target")
    _sub(target, "format", type_="qcow2")
    if backing_path:
        backing = _sub(vol, "backingStore")
        _sub(backing, "path", backing_path)
        _sub(backing, "format", type_="qcow2")
    return etree.tostring(vol, encoding="unicode")


def raw_volume_xml(*, name: str, size_bytes: int) -> str:
    """A raw volume of exactly `size_bytes` (the seed ISO is uploaded into it)."""
    vol = etree.Element("volume")
    _sub(vol, "name", name)
    _sub(vol, "capacity", str(size_bytes), unit="bytes")
    _sub(vol, "allocation", "0")
    target = _sub(vol, "target")
    _sub(target, "format", type_="raw")
    return etree.tostring(vol, encoding="unicode")


NetworkForward = Literal["nat", "isolated"]
_BRIDGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


@dataclass(frozen=True)
class NetworkSpec:
    """A libvirt network Nuage owns on a host: NAT to the outside or isolated, on its own bridge.

    The host's side of the bridge takes `gateway`/`prefix` (nothing for an isolated network
    without a gateway). No DHCP range: Nuage gives each guest its static address by cloud-init,
    and a DHCP server handing out the same pool would hand out addresses twice.
    """

    name: str
    kind: NetworkForward
    bridge: str
    gateway: str = ""
    prefix: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("nat", "isolated"):
            raise ValueError(f"Nuage defines only nat and isolated networks, not {self.kind!r}")
        if not _SOURCE.match(self.name):
            raise ValueError(f"not a network name: {self.name!r}")
        if not _BRIDGE.match(self.bridge):
            raise ValueError(f"not a bridge name (at most 15 characters): {self.bridge!r}")
        if bool(self.gateway) != (self.prefix is not None):
            raise ValueError("a gateway goes with the subnet's prefix length")
        if self.kind == "nat" and not self.gateway:
            raise ValueError("a nat network needs the gateway the host answers on")


def network_xml(spec: NetworkSpec) -> str:
    net = etree.Element("network")
    _sub(net, "name", spec.name)
    if spec.kind == "nat":
        _sub(net, "forward", mode="nat")
    _sub(net, "bridge", name=spec.bridge, stp="on", delay="0")
    if spec.gateway:
        family = "ipv6" if ":" in spec.gateway else "ipv4"
        _sub(net, "ip", family=family, address=spec.gateway, prefix=str(spec.prefix))
    return etree.tostring(net, encoding="unicode")


def network_facts(xml: str) -> tuple[str, str, str, int | None]:
    """(forward kind, bridge, gateway, prefix) of a network as libvirt describes it."""
    net = etree.fromstring(xml.encode())
    forward = net.find("forward")
    kind = "isolated" if forward is None else (forward.get("mode") or "nat")
    bridge = net.find("bridge")
    ip = net.find("ip")
    prefix = ip.get("prefix") if ip is not None else None
    return (
        kind,
        bridge.get("name", "") if bridge is not None else "",
        ip.get("address", "") if ip is not None else "",
        int(prefix) if prefix else None,
    )


def network_has_dhcp(xml: str) -> bool:
    return etree.fromstring(xml.encode()).find("ip/dhcp") is not None


_TARGET_DEV = re.compile(r"^vd[b-z]$")


def data_disk_xml(*, path: str, target_dev: str, serial: str) -> str:
    """A data volume as a virtio disk (hot-pluggable on the `pc` machine's PCI bus)."""
    if not _TARGET_DEV.match(target_dev):
        raise ValueError(f"not a data disk target: {target_dev!r}")
    disk = etree.Element("disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type_="qcow2")
    _sub(disk, "source", file=path)
    _sub(disk, "target", dev=target_dev, bus="virtio")
    _sub(disk, "serial", serial)
    return etree.tostring(disk, encoding="unicode")


def disk_sources(xml: str) -> dict[str, str]:
    """target dev -> source file of a domain's file disks."""
    out: dict[str, str] = {}
    for disk in etree.fromstring(xml.encode()).iterfind("devices/disk"):
        target, source = disk.find("target"), disk.find("source")
        if target is not None and target.get("dev"):
            out[str(target.get("dev"))] = str(source.get("file", "")) if source is not None else ""
    return out


def with_disk(xml: str, disk: str) -> str:
    """The domain XML with `disk` (a <disk> element) added to its devices."""
    dom = etree.fromstring(xml.encode())
    devices = dom.find("devices")
    assert devices is not None
    devices.append(etree.fromstring(disk.encode()))
    return etree.tostring(dom, encoding="unicode")


def without_disk(xml: str, target_dev: str) -> str:
    """The domain XML without the disk on `target_dev`."""
    dom = etree.fromstring(xml.encode())
    for disk in dom.iterfind("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == target_dev:
            parent = disk.getparent()
            assert parent is not None
            parent.remove(disk)
    return etree.tostring(dom, encoding="unicode")


def disk_element(xml: str, target_dev: str) -> str | None:
    """The <disk> element on `target_dev` in a domain's XML, as libvirt wrote it (or None)."""
    for disk in etree.fromstring(xml.encode()).iterfind("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == target_dev:
            return etree.tostring(disk, encoding="unicode")
    return None


def without_memory_hard_limit(xml: str) -> str | None:
    """A running domain's XML (or a snapshot's, with the domain in it) without its memory hard
    limit, or None when it has none.

    What a live migration or the revert to a snapshot with memory starts QEMU from: a live hard
    limit (set after the start, `driver.set_memory_hard_limit`) shows in the live XML as
    <memtune><hard_limit>, and a QEMU started under it fails where it may not raise its
    locked-memory limit. Other <memtune> settings stay; an emptied <memtune> goes.
    """
    root = etree.fromstring(xml.encode())
    dom = root if root.tag == "domain" else root.find("domain")
    if dom is None:
        return None
    memtune = dom.find("memtune")
    hard = memtune.find("hard_limit") if memtune is not None else None
    if memtune is None or hard is None:
        return None
    memtune.remove(hard)
    if len(memtune) == 0:
        dom.remove(memtune)
    return etree.tostring(root, encoding="unicode")


# --- system containers (libvirt LXC) --------------------------------------------------------

CONTAINER_INIT = "/sbin/init"


@dataclass(frozen=True)
class ContainerSpec:
    """A system container: a copy of a rootfs image run by libvirt's LXC driver.

    The kernel is the host's; what the flavor gives is enforced by the container's cgroups:
    its memory is a hard limit (RAM and swap together: past it the kernel kills inside the
    container, never on the host), and its vCPUs a CFS quota over all of them (`vcpus` whole
    CPUs, or `cpu_cap_percent` of each).
    """

    name: str
    uuid: str
    title: str
    vcpus: int
    memory_mib: int
    rootfs: str
    tenant: str = ""
    init: str = CONTAINER_INIT
    limits: ResourceLimits = ResourceLimits()

    def __post_init__(self) -> None:
        if not self.rootfs.startswith("/"):
            raise ValueError(f"a container's rootfs is an absolute path, not {self.rootfs!r}")
        if self.vcpus < 1 or self.memory_mib < 1:
            raise ValueError("a container has at least one vCPU and some memory")

    @property
    def cpu_quota_us(self) -> int:
        """The container's CFS quota over CPU_PERIOD_US: its vCPUs, each capped if asked."""
        return self.vcpus * (self.limits.cpu_quota_us or CPU_PERIOD_US)

    @property
    def memory_limit_mib(self) -> int:
        """The hard limit: the flavor's memory, or its larger memory hard limit if it has one."""
        return max(self.memory_mib, self.limits.memory_hard_limit_mib)


def container_domain_xml(spec: ContainerSpec) -> str:
    dom = etree.Element("domain", type="lxc")
    _sub(dom, "name", spec.name)
    _sub(dom, "uuid", spec.uuid)
    _sub(dom, "title", spec.title)
    meta = _sub(dom, "metadata")
    nuage = etree.SubElement(meta, f"{{{METADATA_NS}}}vm", nsmap={"nuage": METADATA_NS})
    etree.SubElement(nuage, f"{{{METADATA_NS}}}tenant").text = spec.tenant
    etree.SubElement(nuage, f"{{{METADATA_NS}}}kind").text = "container"
    _sub(dom, "memory", str(spec.memory_mib), unit="MiB")
    memtune = _sub(dom, "memtune")
    # Unlike QEMU's, the LXC driver takes the limits in the XML at start (no locked memory).
    _sub(memtune, "hard_limit", str(spec.memory_limit_mib), unit="MiB")
    _sub(memtune, "swap_hard_limit", str(spec.memory_limit_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    cputune = _sub(dom, "cputune")
    if spec.limits.cpu_shares:
        _sub(cputune, "shares", str(spec.limits.cpu_shares))
    _sub(cputune, "period", str(CPU_PERIOD_US))
    _sub(cputune, "quota", str(spec.cpu_quota_us))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "exe")
    _sub(os_el, "init", spec.init)
    features = _sub(dom, "features")
    # A network namespace of its own (loopback only): without it the container would share
    # the host's, and reach every service listening on the host's loopback.
    _sub(features, "privnet")
    _sub(dom, "on_poweroff", "destroy")
    # An init that reboots ends the container; Nuage starts it again when asked to.
    _sub(dom, "on_reboot", "destroy")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    fs = _sub(devices, "filesystem", type_="mount")
    _sub(fs, "source", dir=spec.rootfs)
    _sub(fs, "target", dir="/")
    _sub(devices, "console", type_="pty")
    return etree.tostring(dom, encoding="unicode")
