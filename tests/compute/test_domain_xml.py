"""Domain XML for a VM with a seed and NICs: what libvirt accepts and what QEMU is given."""

from __future__ import annotations

import uuid

import libvirt
import pytest
from lxml import etree

from compute.hypervisor import driver
from compute.hypervisor.xml import QEMU_NS, DomainSpec, NicSpec, domain_xml


def _spec(**fields) -> DomainSpec:
    base = dict(
        name=f"xml-{uuid.uuid4().hex[:8]}",
        uuid=str(uuid.uuid4()),
        title="t/web",
        vcpus=1,
        memory_mib=128,
        disk_path="/default-pool/web.qcow2",
    )
    return DomainSpec(**(base | fields))


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    yield c
    c.close()


def _qemu_args(tree: etree._Element) -> list[str]:
    return [a.get("value") for a in tree.iterfind(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")]


@pytest.mark.parametrize("restricted", [True, False])
def test_libvirt_accepts_a_vm_with_a_seed_and_every_kind_of_nic(conn, restricted):
    spec = _spec(
        seed_path="/default-pool/web-seed.iso",
        nics=(
            NicSpec("user", "52:54:00:00:00:01", host_port=2222),
            NicSpec("network", "52:54:00:00:00:02", source="default"),
            NicSpec("bridge", "52:54:00:00:00:03", source="br0"),
            NicSpec("user", "52:54:00:00:00:04"),
        ),
        user_net_restricted=restricted,
    )
    dom = conn.defineXML(domain_xml(spec))
    defined = etree.fromstring(dom.XMLDesc(0))
    (cdrom,) = defined.findall("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == spec.seed_path
    assert cdrom.find("target").get("bus") == "ide"
    assert cdrom.find("readonly") is not None
    interfaces = {i.find("mac").get("address"): i for i in defined.iterfind("devices/interface")}
    assert interfaces["52:54:00:00:00:02"].find("source").get("network") == "default"
    assert interfaces["52:54:00:00:00:03"].find("source").get("bridge") == "br0"
    # The port-forwarded NIC is QEMU's own, not libvirt's; so is every restricted user NIC.
    assert "52:54:00:00:00:01" not in interfaces
    assert ("52:54:00:00:00:04" in interfaces) is not restricted
    dom.undefine()


def test_a_forwarded_port_reaches_the_guests_ssh_on_loopback_only():
    tree = etree.fromstring(
        domain_xml(_spec(nics=(NicSpec("user", "52:54:00:00:00:01", host_port=2222),)))
    )
    assert _qemu_args(tree) == [
        "-netdev",
        "user,id=nuagenet0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
        "-device",
        "virtio-net-pci,netdev=nuagenet0,mac=52:54:00:00:00:01,bus=pci.0,addr=0x1f",
    ]


def test_every_user_networking_nic_is_restricted_from_the_host():
    tree = etree.fromstring(
        domain_xml(
            _spec(
                nics=(
                    NicSpec("user", "52:54:00:00:00:01", host_port=2222),
                    NicSpec("network", "52:54:00:00:00:02", source="default"),
                    NicSpec("user", "52:54:00:00:00:03"),
                )
            )
        )
    )
    args = _qemu_args(tree)
    backends = args[1::4]
    assert backends == [
        "user,id=nuagenet0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
        "user,id=nuagenet1,restrict=on",
    ]
    assert args[7] == "virtio-net-pci,netdev=nuagenet1,mac=52:54:00:00:00:03,bus=pci.0,addr=0x1e"
    assert [i.get("type") for i in tree.iterfind("devices/interface")] == ["network"]


def test_without_nics_a_vm_gets_one_restricted_user_networking_nic():
    tree = etree.fromstring(domain_xml(_spec()))
    assert tree.find("devices/interface") is None
    assert _qemu_args(tree) == [
        "-netdev",
        "user,id=nuagenet0,restrict=on",
        "-device",
        "virtio-net-pci,netdev=nuagenet0,bus=pci.0,addr=0x1f",
    ]
    assert tree.find("devices/disk[@device='cdrom']") is None


def test_host_access_allowed_keeps_libvirts_own_user_nic_and_an_open_forward():
    tree = etree.fromstring(domain_xml(_spec(user_net_restricted=False)))
    (iface,) = tree.iterfind("devices/interface")
    assert iface.get("type") == "user"
    assert iface.find("mac") is None
    assert QEMU_NS not in etree.tostring(tree).decode()
    forwarded = etree.fromstring(
        domain_xml(
            _spec(
                nics=(NicSpec("user", "52:54:00:00:00:01", host_port=2222),),
                user_net_restricted=False,
            )
        )
    )
    assert _qemu_args(forwarded)[1] == "user,id=nuagenet0,hostfwd=tcp:127.0.0.1:2222-:22"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "user", "mac": "52:54:00:00:00:01", "host_port": 22},
        {"kind": "user", "mac": "52:54:00:00:00:01", "source": "default"},
        {"kind": "network", "mac": "52:54:00:00:00:01"},
        {"kind": "network", "mac": "52:54:00:00:00:01", "source": "x,hostfwd=tcp::1-:2"},
        {"kind": "bridge", "mac": "52:54:00:00:00:01", "source": "br0", "host_port": 2222},
        {"kind": "user", "mac": "52:54:00:00:00:01,addr=0x2"},
        {"kind": "tap", "mac": "52:54:00:00:00:01"},
    ],
)
def test_a_nic_that_could_inject_or_clash_is_refused(kwargs):
    with pytest.raises(ValueError):
        NicSpec(**kwargs)


def test_seed_volume_is_created_once_and_replaced_when_its_size_changes(conn):
    uri, pool = "test:///default", "default-pool"
    path = driver.ensure_seed_volume(uri, pool=pool, name="web-seed.iso", data=b"\0" * 4096)
    assert driver.ensure_seed_volume(uri, pool=pool, name="web-seed.iso", data=b"\0" * 4096) == path
    driver.ensure_seed_volume(uri, pool=pool, name="web-seed.iso", data=b"\0" * 8192)
    vol = conn.storagePoolLookupByName(pool).storageVolLookupByName("web-seed.iso")
    assert vol.info()[1] == 8192
    assert driver.remove_volume(uri, pool=pool, name="web-seed.iso")
    assert not driver.remove_volume(uri, pool=pool, name="web-seed.iso")


def test_data_volumes_are_virtio_disks_after_the_root_disk():
    from compute.hypervisor.xml import DataDiskSpec, DomainSpec, domain_xml

    spec = DomainSpec(
        name="d",
        uuid="6695eb01-f6a4-8304-79aa-97f2502e193f",
        title="t/d",
        vcpus=1,
        memory_mib=256,
        disk_path="/pool/d.qcow2",
        data_disks=(DataDiskSpec(path="/pool/v.qcow2", target_dev="vdb", serial="abc"),),
    )
    tree = etree.fromstring(domain_xml(spec).encode())
    disks = tree.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]
    assert disks[1].find("source").get("file") == "/pool/v.qcow2"
    assert disks[1].findtext("serial") == "abc"
