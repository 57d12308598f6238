"""Domain and volume XML, built with lxml so that no value is ever spliced into markup."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

METADATA_NS = "urn:nuage:libvirt:vm:1"
# libvirt's passthrough of QEMU arguments: how a user-networking NIC gets a host port forward
# (libvirt 9.0 has no <portForward> without passt, which it refuses here).
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


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _interfaces(devices: etree._Element, spec: DomainSpec) -> None:
    """The NICs libvirt manages (a port-forwarded one goes on QEMU's command line instead)."""
    if spec.nics is None:
        iface = _sub(devices, "interface", type_="user")
        _sub(iface, "model", type_="virtio")
        return
    for nic in spec.nics:
        if nic.forwards:
            continue
        iface = _sub(devices, "interface", type_=nic.kind)
        _sub(iface, "mac", address=nic.mac)
        if nic.kind == "network":
            _sub(iface, "source", network=nic.source)
        elif nic.kind == "bridge":
            _sub(iface, "source", bridge=nic.source)
        _sub(iface, "model", type_="virtio")


def _qemu_commandline(dom: etree._Element, nics: list[NicSpec]) -> None:
    cmdline = etree.SubElement(dom, f"{{{QEMU_NS}}}commandline")
    for index, nic in enumerate(nics):
        netdev = f"nuagenet{index}"
        slot = _PASSTHROUGH_TOP_SLOT - index
        # Every value below is ours or validated by NicSpec (a MAC, a port number): nothing
        # can add a comma-separated QEMU option.
        for value in (
            "-netdev",
            f"user,id={netdev},hostfwd=tcp:127.0.0.1:{nic.host_port}-:22",
            "-device",
            f"virtio-net-pci,netdev={netdev},mac={nic.mac},bus=pci.0,addr={slot:#04x}",
        ):
            etree.SubElement(cmdline, f"{{{QEMU_NS}}}arg", value=value)


def domain_xml(spec: DomainSpec) -> str:
    passthrough = [n for n in spec.nics or () if n.forwards]
    if len(passthrough) > 8:
        raise ValueError("at most 8 port-forwarded NICs")
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
    if spec.seed_path:
        # IDE on the `pc` machine: distribution kernels carry its drivers (ata_piix, sr_mod).
        cdrom = _sub(devices, "disk", type_="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type_="raw")
        _sub(cdrom, "source", file=spec.seed_path)
        _sub(cdrom, "target", dev="hdc", bus="ide")
        _sub(cdrom, "readonly")
    _interfaces(devices, spec)
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
        _qemu_commandline(dom, passthrough)
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
