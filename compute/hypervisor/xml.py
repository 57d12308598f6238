"""Domain and volume XML, built with lxml so that no value is ever spliced into markup."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

METADATA_NS = "urn:nuage:libvirt:vm:1"


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
    # Set: a VNC display on the host's loopback, behind this password (at most 8 characters).
    vnc_password: str = ""


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def domain_xml(spec: DomainSpec) -> str:
    dom = etree.Element("domain", type=spec.domain_type)
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
    iface = _sub(devices, "interface", type_="user")
    _sub(iface, "model", type_="virtio")
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
