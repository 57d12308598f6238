"""OVF envelopes and OVA archives: what an export writes reads back, and every bad archive is
refused with a message that says why, leaving nothing behind."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Callable

import pytest

from compute import ovf

GiB = 2**30
LIMITS = ovf.OvaLimits(max_member_bytes=64 * 2**20, max_virtual_bytes=4 * GiB)


def envelope(**overrides: object) -> bytes:
    disk = ovf.EnvelopeDisk("vm-disk1.vmdk", 1234, GiB)
    fields: dict[str, object] = {
        "name": "vm",
        "vcpus": 2,
        "ram_mib": 768,
        "disks": [disk],
        "networks": ["user-net"],
    }
    fields.update(overrides)
    return ovf.build_envelope(ovf.EnvelopeSystem(**fields))  # type: ignore[arg-type]


def test_built_envelope_reads_back():
    disks = [ovf.EnvelopeDisk("a.vmdk", 10, 2 * GiB), ovf.EnvelopeDisk("b.vmdk", 20, 5 * GiB)]
    parsed = ovf.parse_envelope(envelope(disks=disks, os_type="linux"))
    assert (parsed.name, parsed.vcpus, parsed.ram_mib, parsed.os_type) == ("vm", 2, 768, "linux")
    assert [(d.file_name, d.capacity_bytes, d.declared_size) for d in parsed.disks] == [
        ("a.vmdk", 2 * GiB, 10),
        ("b.vmdk", 5 * GiB, 20),
    ]
    assert parsed.networks == ["user-net"]


def test_built_envelope_has_the_ovf_sections_in_order():
    from lxml import etree

    root = etree.fromstring(envelope())
    ns = {"ovf": ovf.OVF_NS, "rasd": ovf.RASD_NS}
    assert [etree.QName(c).localname for c in root] == [
        "References",
        "DiskSection",
        "NetworkSection",
        "VirtualSystem",
    ]
    types = root.xpath("//ovf:Item/rasd:ResourceType/text()", namespaces=ns)
    assert types == ["3", "4", "20", "17", "10"]
    assert root.xpath("//ovf:OperatingSystemSection/@ovf:id", namespaces=ns) == ["101"]


def test_envelope_from_another_tool_with_units_reads():
    # Memory in GB and disk capacity in units of 2^30, as VirtualBox and VMware write them.
    text = envelope().replace(b'ovf:capacity="1073741824"', b'ovf:capacity="8"')
    text = text.replace(
        b'ovf:capacityAllocationUnits="byte"', b'ovf:capacityAllocationUnits="byte * 2^30"'
    )
    text = text.replace(b"<rasd:AllocationUnits>byte * 2^20", b"<rasd:AllocationUnits>byte * 2^30")
    text = text.replace(b"<rasd:VirtualQuantity>768<", b"<rasd:VirtualQuantity>2<")
    parsed = ovf.parse_envelope(text)
    assert parsed.ram_mib == 2048
    assert parsed.disks[0].capacity_bytes == 8 * GiB


# ---------------------------------------------------------------------------------------------
# Archives


@pytest.fixture(scope="module")
def vmdk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("img") / "d.vmdk"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", path, "1G"],
        check=True,
    )
    return path.read_bytes()


def make_ova(
    members: list[tuple[str, bytes]],
    *,
    tweak: Callable[[tarfile.TarInfo], None] | None = None,
    extra: list[tarfile.TarInfo] | None = None,
) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if tweak:
                tweak(info)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    buf.seek(0)
    return buf


def good_members(vmdk: bytes, **env: object) -> list[tuple[str, bytes]]:
    env.setdefault("disks", [ovf.EnvelopeDisk("vm-disk1.vmdk", len(vmdk), GiB)])
    ovf_bytes = envelope(**env)
    mf = ovf.manifest(
        [
            ("vm.ovf", hashlib.sha256(ovf_bytes).hexdigest()),
            ("vm-disk1.vmdk", hashlib.sha256(vmdk).hexdigest()),
        ]
    )
    return [("vm.ovf", ovf_bytes), ("vm.mf", mf), ("vm-disk1.vmdk", vmdk)]


def test_good_ova_is_read_and_its_disk_extracted(vmdk, tmp_path):
    read = ovf.read_ova(make_ova(good_members(vmdk)), tmp_path, LIMITS)
    assert read.envelope.vcpus == 2
    assert [d.virtual_size for d in read.disks] == [GiB]
    assert read.disks[0].path.parent == tmp_path
    assert read.disks[0].path.read_bytes() == vmdk


def _replace(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def _bad_cases(vmdk: bytes) -> dict[str, tuple[io.BytesIO, str]]:
    good = good_members(vmdk)
    ovf_bytes = good[0][1]
    cases: dict[str, tuple[io.BytesIO, str]] = {}

    cases["not a tar"] = (io.BytesIO(b"just some bytes" * 100), "not an OVA")
    cases["empty tar"] = (make_ova([]), "empty")
    cases["traversal"] = (
        make_ova([*good, ("../../etc/cron.d/evil", b"x")]),
        "only plain file names",
    )
    cases["folder in name"] = (
        make_ova([good[0], good[1], ("sub/vm-disk1.vmdk", vmdk)]),
        "only plain file names",
    )
    cases["absolute path"] = (make_ova([*good, ("/etc/passwd", b"x")]), "only plain file names")
    link = tarfile.TarInfo("vm-disk1.vmdk")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    cases["symlink"] = (make_ova(good[:2], extra=[link]), "not a regular file")
    hard = tarfile.TarInfo("vm-disk1.vmdk")
    hard.type, hard.linkname = tarfile.LNKTYPE, "vm.ovf"
    cases["hardlink"] = (make_ova(good[:2], extra=[hard]), "not a regular file")
    dev = tarfile.TarInfo("vm-disk1.vmdk")
    dev.type = tarfile.CHRTYPE
    cases["device"] = (make_ova(good[:2], extra=[dev]), "not a regular file")
    cases["malformed xml"] = (
        make_ova(_replace(good, "vm.ovf", b"<Envelope><oops>")),
        "well-formed",
    )
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    )
    cases["entity bomb"] = (make_ova(_replace(good, "vm.ovf", bomb)), "refused")
    cases["not ovf first"] = (make_ova([good[2], good[0], good[1]]), "first file")
    cases["missing disk file"] = (make_ova(good[:2]), "OVA lacks")
    cases["digest mismatch"] = (
        make_ova(_replace(good, "vm-disk1.vmdk", vmdk[:-1] + bytes([vmdk[-1] ^ 1]))),
        "does not match the manifest",
    )
    cases["envelope changed after manifest"] = (
        make_ova(_replace(good, "vm.ovf", ovf_bytes.replace(b">2<", b">64<", 1))),
        "does not match the manifest",
    )
    outside = ovf_bytes.replace(b'ovf:href="vm-disk1.vmdk"', b'ovf:href="http://evil.example/d"')
    cases["reference outside"] = (make_ova(_replace(good, "vm.ovf", outside)), "outside")
    parent = ovf_bytes.replace(b'ovf:href="vm-disk1.vmdk"', b'ovf:href="../vm-disk1.vmdk"')
    cases["reference to parent"] = (make_ova(_replace(good, "vm.ovf", parent)), "plain file")
    huge = good_members(vmdk, disks=[ovf.EnvelopeDisk("vm-disk1.vmdk", len(vmdk), 5000 * GiB)])
    cases["declared size bomb"] = (make_ova(huge), "over the limit")
    small = good_members(vmdk, disks=[ovf.EnvelopeDisk("vm-disk1.vmdk", len(vmdk), 2**20)])
    cases["virtual size over declared"] = (make_ova(small), "more than the")
    iso = good_members(vmdk)
    iso[0] = ("vm.ovf", iso[0][1].replace(ovf.VMDK_STREAM.encode(), b"http://x/iso9660"))
    cases["non-disk format"] = (make_ova(iso), "imports VMDK and qcow2")
    cases["garbage disk"] = (
        make_ova(good_members(b"\0" * 4096, disks=[ovf.EnvelopeDisk("vm-disk1.vmdk", 4096, GiB)])),
        "not a valid vmdk",
    )
    cases["size mismatch with envelope"] = (
        make_ova(good_members(vmdk, disks=[ovf.EnvelopeDisk("vm-disk1.vmdk", 7, GiB)])),
        "The envelope says",
    )
    cases["extra file"] = (make_ova([*good, ("notes.txt", b"hi")]), "does not use")
    cases["two envelopes"] = (make_ova([*good, ("b.ovf", ovf_bytes)]), "exactly one .ovf")
    cases["no cpu"] = (
        make_ova(
            _replace(
                good,
                "vm.ovf",
                ovf_bytes.replace(b"<rasd:ResourceType>3<", b"<rasd:ResourceType>99<"),
            )
        ),
        "CPU count",
    )
    return cases


BAD_CASES = [
    "not a tar",
    "empty tar",
    "traversal",
    "folder in name",
    "absolute path",
    "symlink",
    "hardlink",
    "device",
    "malformed xml",
    "entity bomb",
    "not ovf first",
    "missing disk file",
    "digest mismatch",
    "envelope changed after manifest",
    "reference outside",
    "reference to parent",
    "declared size bomb",
    "virtual size over declared",
    "non-disk format",
    "garbage disk",
    "size mismatch with envelope",
    "extra file",
    "two envelopes",
    "no cpu",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_ova_is_refused_with_a_reason(vmdk, tmp_path, case):
    source, reason = _bad_cases(vmdk)[case]
    with pytest.raises(ovf.OvaError, match=reason):
        ovf.read_ova(source, tmp_path, LIMITS)


def test_oversize_disk_file_is_refused_before_it_is_copied(vmdk, tmp_path):
    tight = ovf.OvaLimits(max_member_bytes=len(vmdk) - 1, max_virtual_bytes=4 * GiB)
    with pytest.raises(ovf.OvaError, match="over the limit"):
        ovf.read_ova(make_ova(good_members(vmdk)), tmp_path, tight)
    assert list(tmp_path.iterdir()) == []


def test_vmdk_pointing_at_another_file_is_refused(tmp_path):
    # A monolithicFlat VMDK is a text descriptor naming an extent file: here /etc/hostname.
    descriptor = (
        b"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        b'createType="monolithicFlat"\nRW 2 FLAT "/etc/hostname" 0\n'
        b'ddb.virtualHWVersion = "4"\n'
    )
    members = good_members(
        descriptor, disks=[ovf.EnvelopeDisk("vm-disk1.vmdk", len(descriptor), GiB)]
    )
    with pytest.raises(ovf.OvaError):
        ovf.read_ova(make_ova(members), tmp_path, LIMITS)


def test_qcow2_with_a_backing_file_is_refused(tmp_path):
    base = tmp_path / "base.qcow2"
    over = tmp_path / "over.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "1M"], check=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, over], check=True
    )
    data = over.read_bytes()
    disks = [ovf.EnvelopeDisk("vm-disk1.vmdk", len(data), GiB, ovf.QCOW2_FORMAT)]
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ovf.OvaError, match="backing file"):
        ovf.read_ova(make_ova(good_members(data, disks=disks)), work, LIMITS)


@pytest.mark.parametrize(
    "name",
    ["../x", "/abs", "a/b", "a\\b", "..", ".hidden", "", "x" * 300, "bad name"],
)
def test_member_names_must_be_plain(name):
    with pytest.raises(ovf.OvaError):
        ovf.check_member_name(name)


def test_manifest_round_trip_and_garbage():
    assert ovf.parse_manifest(ovf.manifest([("a", "AB" * 32)])) == {"a": ("sha256", "ab" * 32)}
    with pytest.raises(ovf.OvaError, match="cannot read"):
        ovf.parse_manifest(b"hello world\n")
