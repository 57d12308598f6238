"""OVF 1.x envelopes and OVA archives: build one for an export, read and check an uploaded one.

Building uses lxml; reading untrusted envelopes uses defusedxml (no DTDs, no entities, no
external references). `read_ova` checks an archive before anything is written outside the
caller's scratch folder: member names (no folders, `..`, absolute paths, links), sizes against
the configured limits, the envelope's references, the manifest's SHA-256 digests, and each
disk's real format and virtual size as `qemu-img info` reads them. Every problem is an
`OvaError` whose message says what is wrong, for a 400.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element  # noqa: S405 - types only; parsing is defusedxml's

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from lxml import etree

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

VMDK_STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
QCOW2_FORMAT = "http://www.gnome.org/~markmc/qcow-image-format.html"

# CIM resource types (DSP1041) used in VirtualHardwareSection items.
RT_CPU, RT_MEMORY, RT_ETHERNET, RT_DISK, RT_OTHER_STORAGE = 3, 4, 10, 17, 20

# CIM_OperatingSystem ids (DSP0243 annex) Nuage names; any other id reads as "other".
OS_IDS: dict[str, tuple[int, str]] = {
    "other": (1, "Other"),
    "linux": (36, "Linux"),
    "linux64": (101, "Linux 64-Bit"),
    "windows": (105, "Microsoft Windows Server 2008"),
    "freebsd": (42, "FreeBSD"),
    "freebsd64": (78, "FreeBSD 64-Bit"),
}
_OS_BY_ID = {num: key for key, (num, _label) in OS_IDS.items()}

# The disk formats an OVA may carry, as the envelope names them, and as qemu-img reads them.
_DISK_FORMATS = {"vmdk": "vmdk", "qcow": "qcow2"}
# VMDK kinds held in one file; others (monolithicFlat, twoGbMaxExtent...) point at more files.
_VMDK_SINGLE_FILE = {"streamOptimized", "monolithicSparse"}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class OvaError(ValueError):
    """The OVA or its envelope is not one Nuage can take; the message says why."""


def _o(tag: str) -> str:
    return f"{{{OVF_NS}}}{tag}"


def _r(tag: str) -> str:
    return f"{{{RASD_NS}}}{tag}"


# ---------------------------------------------------------------------------------------------
# Building (export)


@dataclass(frozen=True)
class EnvelopeDisk:
    """One disk of an export: its file in the archive and what the envelope says of it."""

    file_name: str
    file_size: int
    capacity_bytes: int
    format_url: str = VMDK_STREAM


@dataclass(frozen=True)
class EnvelopeSystem:
    """The virtual system an export describes."""

    name: str
    vcpus: int
    ram_mib: int
    disks: list[EnvelopeDisk]
    networks: list[str] = field(default_factory=list)
    os_type: str = "linux64"
    description: str = ""


def _item(parent: etree._Element, **values: object) -> None:
    """A rasd Item; its children in the schema's (alphabetical) order."""
    item = etree.SubElement(parent, _o("Item"))
    for name in sorted(values):
        etree.SubElement(item, _r(name)).text = str(values[name])


def build_envelope(system: EnvelopeSystem) -> bytes:
    """The OVF 1.0 envelope of `system`, UTF-8 with an XML declaration."""
    nsmap = {None: OVF_NS, "ovf": OVF_NS, "rasd": RASD_NS, "vssd": VSSD_NS, "xsi": XSI_NS}
    env = etree.Element(_o("Envelope"), nsmap=nsmap)  # type: ignore[arg-type]
    env.set(_o("version"), "1.0")

    refs = etree.SubElement(env, _o("References"))
    for i, disk in enumerate(system.disks, 1):
        etree.SubElement(
            refs,
            _o("File"),
            {_o("id"): f"file{i}", _o("href"): disk.file_name, _o("size"): str(disk.file_size)},
        )

    disks = etree.SubElement(env, _o("DiskSection"))
    etree.SubElement(disks, _o("Info")).text = "Virtual disks"
    for i, disk in enumerate(system.disks, 1):
        etree.SubElement(
            disks,
            _o("Disk"),
            {
                _o("diskId"): f"vmdisk{i}",
                _o("fileRef"): f"file{i}",
                _o("capacity"): str(disk.capacity_bytes),
                _o("capacityAllocationUnits"): "byte",
                _o("format"): disk.format_url,
            },
        )

    nets = etree.SubElement(env, _o("NetworkSection"))
    etree.SubElement(nets, _o("Info")).text = "Logical networks"
    for name in system.networks:
        net = etree.SubElement(nets, _o("Network"), {_o("name"): name})
        etree.SubElement(net, _o("Description")).text = f"The {name} network"

    vs = etree.SubElement(env, _o("VirtualSystem"), {_o("id"): system.name})
    etree.SubElement(vs, _o("Info")).text = system.description or "A virtual machine"
    etree.SubElement(vs, _o("Name")).text = system.name
    os_id, os_label = OS_IDS.get(system.os_type, OS_IDS["other"])
    osec = etree.SubElement(vs, _o("OperatingSystemSection"), {_o("id"): str(os_id)})
    etree.SubElement(osec, _o("Info")).text = "The guest operating system"
    etree.SubElement(osec, _o("Description")).text = os_label

    hw = etree.SubElement(vs, _o("VirtualHardwareSection"))
    etree.SubElement(hw, _o("Info")).text = "Virtual hardware requirements"
    sysel = etree.SubElement(hw, _o("System"))
    for name, value in (
        ("ElementName", "Virtual Hardware Family"),
        ("InstanceID", "0"),
        ("VirtualSystemIdentifier", system.name),
        ("VirtualSystemType", "qemu"),
    ):
        etree.SubElement(sysel, f"{{{VSSD_NS}}}{name}").text = value
    instance = 1
    _item(
        hw,
        AllocationUnits="hertz * 10^6",
        Description="Number of virtual CPUs",
        ElementName=f"{system.vcpus} virtual CPU(s)",
        InstanceID=instance,
        ResourceType=RT_CPU,
        VirtualQuantity=system.vcpus,
    )
    instance += 1
    _item(
        hw,
        AllocationUnits="byte * 2^20",
        Description="Memory size",
        ElementName=f"{system.ram_mib} MB of memory",
        InstanceID=instance,
        ResourceType=RT_MEMORY,
        VirtualQuantity=system.ram_mib,
    )
    instance += 1
    controller = instance
    _item(
        hw,
        Address=0,
        Description="virtio block controller",
        ElementName="virtio0",
        InstanceID=controller,
        ResourceSubType="virtio",
        ResourceType=RT_OTHER_STORAGE,
    )
    for i, _disk in enumerate(system.disks, 1):
        instance += 1
        _item(
            hw,
            AddressOnParent=i - 1,
            ElementName=f"disk{i}",
            HostResource=f"ovf:/disk/vmdisk{i}",
            InstanceID=instance,
            Parent=controller,
            ResourceType=RT_DISK,
        )
    for i, name in enumerate(system.networks, 1):
        instance += 1
        _item(
            hw,
            AutomaticAllocation="true",
            Connection=name,
            Description=f"virtio network adapter on {name}",
            ElementName=f"ethernet{i}",
            InstanceID=instance,
            ResourceSubType="virtio",
            ResourceType=RT_ETHERNET,
        )
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def manifest(digests: Iterable[tuple[str, str]]) -> bytes:
    """The OVA's .mf: one `SHA256(name)= hexdigest` line per file."""
    return "".join(f"SHA256({name})= {digest}\n" for name, digest in digests).encode()


# ---------------------------------------------------------------------------------------------
# Reading (import)


@dataclass(frozen=True)
class ParsedDisk:
    disk_id: str
    file_name: str
    capacity_bytes: int
    format: str  # "vmdk" or "qcow2"
    declared_size: int | None


@dataclass(frozen=True)
class ParsedEnvelope:
    name: str
    vcpus: int
    ram_mib: int
    os_type: str
    os_description: str
    disks: list[ParsedDisk]
    networks: list[str]


_UNITS = re.compile(r"^byte(?:\s*\*\s*2\^(\d{1,2}))?$")
_LEGACY_UNITS = {"KB": 10, "MB": 20, "GB": 30, "TB": 40, "KILOBYTES": 10, "MEGABYTES": 20}


def _unit_shift(units: str | None, *, default: int) -> int:
    if not units:
        return default
    text = units.strip()
    match = _UNITS.match(text)
    if match:
        return int(match.group(1) or 0)
    if text.upper() in _LEGACY_UNITS:
        return _LEGACY_UNITS[text.upper()]
    raise OvaError(f"The envelope uses allocation units Nuage does not read: '{text}'.")


def _int(text: str | None, what: str) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        raise OvaError(f"The envelope's {what} is not a whole number: '{text}'.") from None
    if value < 0:
        raise OvaError(f"The envelope's {what} is negative.")
    return value


def check_member_name(name: str) -> None:
    """A file name inside an OVA: a plain name, no folder, no `..`, not absolute."""
    if (
        not name
        or name.startswith(("/", "\\"))
        or "/" in name
        or "\\" in name
        or ".." in name
        or not _SAFE_NAME.match(name)
    ):
        raise OvaError(
            f"The OVA holds a file named '{name[:80]}': only plain file names are allowed "
            "(no folders, no '..', no absolute paths)."
        )


def parse_envelope(data: bytes) -> ParsedEnvelope:
    """Read the system an OVF 1.x envelope describes; OvaError if it is not one Nuage takes."""
    try:
        root: Element = safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise OvaError(
            f"The envelope is refused: {type(exc).__name__} (DTDs and entities)."
        ) from exc
    except safe_xml.ParseError as exc:
        raise OvaError(f"The envelope is not well-formed XML: {exc}.") from exc
    if root.tag != _o("Envelope"):
        raise OvaError(
            "The .ovf file is not an OVF 1.x envelope (Envelope in the OVF 1 namespace)."
        )

    files: dict[str, tuple[str, int | None]] = {}
    for el in root.iterfind(f"{_o('References')}/{_o('File')}"):
        file_id, href = el.get(_o("id")), el.get(_o("href"))
        if not file_id or not href:
            raise OvaError("A File of the envelope's References has no id or href.")
        if "://" in href or href.startswith("file:"):
            raise OvaError(f"The envelope references '{href[:80]}' outside the archive.")
        check_member_name(href)
        size = el.get(_o("size"))
        files[file_id] = (href, _int(size, "file size") if size is not None else None)

    disks: dict[str, ParsedDisk] = {}
    for el in root.iterfind(f"{_o('DiskSection')}/{_o('Disk')}"):
        disk_id, ref = el.get(_o("diskId")), el.get(_o("fileRef"))
        if not disk_id or not ref:
            raise OvaError("A Disk of the envelope has no diskId or fileRef (an empty disk).")
        if ref not in files:
            raise OvaError(f"The disk '{disk_id}' refers to a file the envelope does not list.")
        fmt_url = el.get(_o("format")) or ""
        fmt = next((f for key, f in _DISK_FORMATS.items() if key in fmt_url.lower()), None)
        if fmt is None:
            raise OvaError(
                f"The disk '{disk_id}' has the format '{fmt_url[:100]}'; Nuage imports VMDK "
                "and qcow2 disks."
            )
        shift = _unit_shift(el.get(_o("capacityAllocationUnits")), default=0)
        capacity = _int(el.get(_o("capacity")), "disk capacity") << shift
        href, declared = files[ref]
        disks[disk_id] = ParsedDisk(disk_id, href, capacity, fmt, declared)

    systems = root.findall(_o("VirtualSystem"))
    if root.find(_o("VirtualSystemCollection")) is not None or len(systems) != 1:
        raise OvaError("The envelope must describe exactly one virtual system.")
    vs = systems[0]
    name = (vs.findtext(_o("Name")) or vs.get(_o("id")) or "").strip()

    os_el = vs.find(_o("OperatingSystemSection"))
    os_id = _int(os_el.get(_o("id")), "operating system id") if os_el is not None else 1
    os_type = _OS_BY_ID.get(os_id, "other")
    os_description = (
        (os_el.findtext(_o("Description")) if os_el is not None else "") or ""
    ).strip()

    hw = vs.find(_o("VirtualHardwareSection"))
    if hw is None:
        raise OvaError("The envelope has no VirtualHardwareSection (CPU, memory, disks).")
    vcpus = ram_mib = 0
    used_disks: list[ParsedDisk] = []
    for item in hw.iterfind(_o("Item")):
        rtype = _int(item.findtext(_r("ResourceType")), "resource type")
        if rtype == RT_CPU:
            vcpus = _int(item.findtext(_r("VirtualQuantity")), "CPU count")
        elif rtype == RT_MEMORY:
            shift = _unit_shift(item.findtext(_r("AllocationUnits")), default=20)
            quantity = _int(item.findtext(_r("VirtualQuantity")), "memory size")
            ram_mib = (quantity << shift) >> 20
        elif rtype == RT_DISK:
            resource = (item.findtext(_r("HostResource")) or "").strip()
            disk_id = resource.rsplit("/", 1)[-1]
            if resource.startswith("ovf:/disk/") and disk_id in disks:
                used_disks.append(disks[disk_id])
            elif resource:
                raise OvaError(f"A disk drive refers to '{resource[:80]}', not a listed disk.")
    if vcpus < 1:
        raise OvaError("The envelope gives no CPU count (a ResourceType 3 item).")
    if ram_mib < 1:
        raise OvaError("The envelope gives no memory size (a ResourceType 4 item).")
    if not used_disks:
        raise OvaError("The envelope attaches no disk to the virtual system.")
    networks = [
        n.get(_o("name")) or "" for n in root.iterfind(f"{_o('NetworkSection')}/{_o('Network')}")
    ]
    return ParsedEnvelope(
        name=name,
        vcpus=vcpus,
        ram_mib=ram_mib,
        os_type=os_type,
        os_description=os_description,
        disks=used_disks,
        networks=[n for n in networks if n],
    )


_MF_LINE = re.compile(r"^SHA(1|256|512)\((.+)\)\s*=\s*([0-9a-fA-F]+)$")


def parse_manifest(data: bytes) -> dict[str, tuple[str, str]]:
    """file name -> (algorithm, hex digest) from an OVA's .mf."""
    out: dict[str, tuple[str, str]] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OvaError("The manifest (.mf) is not text.") from None
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _MF_LINE.match(line.strip())
        if not match:
            raise OvaError(f"The manifest has a line Nuage cannot read: '{line[:80]}'.")
        out[match.group(2)] = (f"sha{match.group(1)}", match.group(3).lower())
    return out


@dataclass(frozen=True)
class OvaLimits:
    max_member_bytes: int  # a disk file as stored in the archive
    max_virtual_bytes: int  # a disk's size as the guest sees it
    max_envelope_bytes: int = 1 << 20


@dataclass(frozen=True)
class ExtractedDisk:
    disk: ParsedDisk
    path: Path
    virtual_size: int


@dataclass(frozen=True)
class ReadOva:
    envelope: ParsedEnvelope
    disks: list[ExtractedDisk]


_COPY_CHUNK = 1 << 20


def _copy_digest(src: IO[bytes], dest: Path, *, limit: int) -> tuple[int, dict[str, str]]:
    hashes = {"sha1": hashlib.sha1(), "sha256": hashlib.sha256(), "sha512": hashlib.sha512()}  # noqa: S324
    total = 0
    with dest.open("xb") as out:
        while chunk := src.read(_COPY_CHUNK):
            total += len(chunk)
            if total > limit:
                raise OvaError(f"A disk file of the OVA is larger than the limit ({limit} bytes).")
            for h in hashes.values():
                h.update(chunk)
            out.write(chunk)
    return total, {name: h.hexdigest() for name, h in hashes.items()}


def qemu_img_info(path: Path, fmt: str) -> dict[str, object]:
    """`qemu-img info` of a file in a given format (never probed: a raw file stays raw)."""
    try:
        done = subprocess.run(  # noqa: S603
            ["qemu-img", "info", "--output=json", "-f", fmt, str(path)],  # noqa: S607
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OvaError("Reading a disk of the OVA took too long.") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise OvaError(f"A disk of the OVA is not a valid {fmt} image: {reason[0][:200]}")
    info: dict[str, object] = json.loads(done.stdout)
    return info


def check_disk_image(path: Path, disk: ParsedDisk, limits: OvaLimits) -> int:
    """The disk's virtual size, after checking it is a self-contained image of its format
    within the limits (no backing file, no extra extents, no size bomb)."""
    info = qemu_img_info(path, disk.format)
    if info.get("format") != disk.format:
        raise OvaError(f"The disk '{disk.file_name}' is not a {disk.format} image.")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise OvaError(f"The disk '{disk.file_name}' refers to a backing file outside the OVA.")
    specific = info.get("format-specific")
    if disk.format == "vmdk":
        data = specific.get("data", {}) if isinstance(specific, dict) else {}
        kind = data.get("create-type") if isinstance(data, dict) else None
        extents = data.get("extents", []) if isinstance(data, dict) else []
        if kind not in _VMDK_SINGLE_FILE or (isinstance(extents, list) and len(extents) > 1):
            raise OvaError(
                f"The disk '{disk.file_name}' is a VMDK of kind '{kind}'; Nuage imports "
                "single-file VMDKs (streamOptimized, monolithicSparse)."
            )
    size = info.get("virtual-size")
    if not isinstance(size, int) or size <= 0:
        raise OvaError(f"The disk '{disk.file_name}' has no virtual size.")
    if size > limits.max_virtual_bytes:
        raise OvaError(
            f"The disk '{disk.file_name}' is {size} bytes as the guest sees it, over the limit "
            f"of {limits.max_virtual_bytes}."
        )
    if size > disk.capacity_bytes:
        raise OvaError(
            f"The disk '{disk.file_name}' is {size} bytes as the guest sees it, more than the "
            f"{disk.capacity_bytes} the envelope declares."
        )
    return size


@dataclass(frozen=True)
class _Checked:
    envelope: ParsedEnvelope
    members: dict[str, tarfile.TarInfo]
    digests: dict[str, tuple[str, str]] | None  # None: the OVA has no manifest


def _open_tar(source: IO[bytes]) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=source, mode="r:")
    except tarfile.TarError:
        raise OvaError("The file is not an OVA (an uncompressed tar archive).") from None


def _check_archive(archive: tarfile.TarFile, limits: OvaLimits) -> _Checked:
    """Every check that reads only the tar headers, the envelope and the manifest (never a
    disk's data): cheap whatever the OVA's size."""
    members = archive.getmembers()
    if not members:
        raise OvaError("The OVA is empty.")
    seen: set[str] = set()
    for m in members:
        check_member_name(m.name)
        if not m.isreg():
            raise OvaError(
                f"The OVA holds '{m.name}', which is not a regular file (links, folders "
                "and devices are refused)."
            )
        if m.name in seen:
            raise OvaError(f"The OVA holds '{m.name}' twice.")
        seen.add(m.name)
    first = members[0]
    if not first.name.lower().endswith(".ovf"):
        raise OvaError("The OVA's first file must be its .ovf envelope.")
    if sum(1 for m in members if m.name.lower().endswith(".ovf")) != 1:
        raise OvaError("The OVA must hold exactly one .ovf envelope.")
    if first.size > limits.max_envelope_bytes:
        raise OvaError("The OVA's envelope is larger than the limit.")
    envelope_bytes = _read_member(archive, first)
    envelope = parse_envelope(envelope_bytes)

    by_name = {m.name: m for m in members}
    digests: dict[str, tuple[str, str]] = {}
    manifests = [m for m in members if m.name.lower().endswith(".mf")]
    if len(manifests) > 1:
        raise OvaError("The OVA holds more than one manifest (.mf).")
    if manifests:
        if manifests[0].size > limits.max_envelope_bytes:
            raise OvaError("The OVA's manifest is larger than the limit.")
        digests = parse_manifest(_read_member(archive, manifests[0]))
        for name in digests:
            if name not in by_name:
                raise OvaError(f"The manifest lists '{name[:80]}', which the OVA lacks.")
    wanted = {d.file_name for d in envelope.disks}
    allowed = wanted | {first.name} | {m.name for m in manifests}
    for m in members:
        if m.name not in allowed and not m.name.lower().endswith(".cert"):
            raise OvaError(f"The OVA holds '{m.name}', which the envelope does not use.")

    total_virtual = 0
    for disk in envelope.disks:
        member = by_name.get(disk.file_name)
        if member is None:
            raise OvaError(f"The envelope's disk file '{disk.file_name}' is not in the OVA.")
        if disk.declared_size is not None and disk.declared_size != member.size:
            raise OvaError(
                f"The envelope says '{disk.file_name}' is {disk.declared_size} bytes; the "
                f"OVA holds {member.size}."
            )
        if member.size > limits.max_member_bytes:
            raise OvaError(
                f"The disk file '{disk.file_name}' is {member.size} bytes, over the limit "
                f"of {limits.max_member_bytes}."
            )
        if disk.capacity_bytes > limits.max_virtual_bytes:
            raise OvaError(
                f"The envelope declares the disk '{disk.file_name}' at "
                f"{disk.capacity_bytes} bytes, over the limit of {limits.max_virtual_bytes}."
            )
        total_virtual += disk.capacity_bytes
        if total_virtual > limits.max_virtual_bytes * 4:
            raise OvaError("The OVA's disks are larger in all than the limit.")
        if manifests and disk.file_name not in digests:
            raise OvaError(f"The manifest has no digest for '{disk.file_name}'.")
    if manifests and first.name in digests:
        algo, want = digests[first.name]
        if hashlib.new(algo, envelope_bytes).hexdigest() != want:
            raise OvaError(
                f"The digest of '{first.name}' does not match the manifest: the envelope "
                "was changed."
            )
    return _Checked(envelope, by_name, digests if manifests else None)


def check_ova(source: IO[bytes], limits: OvaLimits) -> ParsedEnvelope:
    """The checks of `read_ova` that need no disk data (member names and kinds, the envelope,
    the manifest, sizes from the headers), for an answer while the upload's request lasts.
    Reads headers only: a seekable source of any size takes a moment. Writes nothing."""
    with _open_tar(source) as archive:
        return _check_archive(archive, limits).envelope


def read_ova(source: IO[bytes], workdir: Path, limits: OvaLimits) -> ReadOva:
    """Check the OVA read from `source` and extract its disks into `workdir` (the caller's
    scratch folder, which it removes whatever happens). Nothing is written elsewhere.
    Beyond `check_ova`: each disk's digest against the manifest and its real format and
    virtual size (qemu-img), which need its data."""
    with _open_tar(source) as archive:
        checked = _check_archive(archive, limits)
        extracted: list[ExtractedDisk] = []
        for i, disk in enumerate(checked.envelope.disks):
            src = archive.extractfile(checked.members[disk.file_name])
            if src is None:  # pragma: no cover - regular files always have data
                raise OvaError(f"'{disk.file_name}' cannot be read.")
            dest = workdir / f"disk-{i}.{disk.format}"
            _size, got = _copy_digest(src, dest, limit=limits.max_member_bytes)
            if checked.digests is not None:
                algo, want = checked.digests[disk.file_name]
                if got[algo] != want:
                    raise OvaError(
                        f"The digest of '{disk.file_name}' does not match the manifest: the "
                        "file is damaged or was changed."
                    )
            virtual = check_disk_image(dest, disk, limits)
            extracted.append(ExtractedDisk(disk, dest, virtual))
    return ReadOva(envelope=checked.envelope, disks=extracted)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    src = archive.extractfile(member)
    if src is None:  # pragma: no cover
        raise OvaError(f"'{member.name}' cannot be read.")
    return src.read()
