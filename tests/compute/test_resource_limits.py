"""Flavor resource limits: validated, written into the domain, applied to the running guest,
shown on the flavors page and the VM page (libvirt's test driver)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from lxml import etree

from compute import hypervisor, services
from compute.hypervisor.connection import get_connection
from compute.hypervisor.xml import DomainSpec, ResourceLimits, domain_xml
from tests.factories import FlavorFactory

LIMITS = dict(
    cpu_shares=512,
    cpu_cap_percent=50,
    memory_hard_limit_mib=768,
    disk_read_iops=200,
    disk_write_iops=100,
    disk_read_bytes_sec=10 * 2**20,
    disk_write_bytes_sec=5 * 2**20,
    net_in_kib_s=1000,
    net_out_kib_s=500,
)


def _spec(limits: ResourceLimits, nics=None) -> DomainSpec:
    return DomainSpec(
        name="limits-xml",
        uuid="6a0d2c77-3b1a-4c55-9a44-1c0c1f0e9b01",
        title="t/limits",
        vcpus=2,
        memory_mib=512,
        disk_path="/default-pool/limits.qcow2",
        nics=nics,
        limits=limits,
    )


def test_domain_xml_carries_cputune_iotune_and_bandwidth():
    from compute.hypervisor.xml import NicSpec

    nic = NicSpec("network", "52:54:00:00:00:02", source="nuage-lan")
    dom = etree.fromstring(domain_xml(_spec(ResourceLimits(**LIMITS), nics=(nic,))))
    assert dom.findtext("cputune/shares") == "512"
    assert dom.findtext("cputune/period") == "100000"
    assert dom.findtext("cputune/quota") == "50000"  # 50% of one CPU per vCPU
    iotune = dom.find("devices/disk[@device='disk']/iotune")
    assert {el.tag: el.text for el in iotune} == {
        "read_bytes_sec": str(10 * 2**20),
        "write_bytes_sec": str(5 * 2**20),
        "read_iops_sec": "200",
        "write_iops_sec": "100",
    }
    bandwidth = dom.find("devices/interface/bandwidth")
    assert bandwidth.find("inbound").get("average") == "1000"
    assert bandwidth.find("outbound").get("average") == "500"
    # The memory hard limit is applied to the running domain, never in <memtune>.
    assert dom.find("memtune") is None


def test_no_limits_no_tuning_elements():
    dom = etree.fromstring(domain_xml(_spec(ResourceLimits())))
    assert dom.find("cputune") is None
    assert dom.find("devices/disk/iotune") is None
    assert dom.find("devices/interface/bandwidth") is None


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="percentage"):
        ResourceLimits(cpu_cap_percent=150)
    with pytest.raises(ValueError, match=">= 0"):
        ResourceLimits(disk_read_iops=-1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu_shares", 1, "greater than or equal to 2"),
        ("cpu_cap_percent", 0, "greater than or equal to 1"),
        ("cpu_cap_percent", 101, "less than or equal to 100"),
        ("memory_hard_limit_mib", 256, "at least the RAM"),
        ("disk_read_bytes_sec", 100, "greater than or equal to 4096"),
    ],
)
def test_flavor_create_refuses_nonsense_limits(db, world, field, value, message):
    with pytest.raises(ValidationError) as exc:
        services.flavor_create(
            created_by=world.platform_admin,
            name="bad",
            vcpus=1,
            ram_mib=512,
            disk_gib=1,
            **{field: value},
        )
    assert message in " ".join(exc.value.message_dict[field])


def test_provisioned_vm_runs_with_the_flavor_limits(world, sim_host, image, run_on_commit):
    flavor = FlavorFactory(name="capped", vcpus=2, ram_mib=512, disk_gib=1, **LIMITS)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="capped-1",
    )
    vm.refresh_from_db()
    assert vm.state == "running"
    dom = get_connection(sim_host.uri).lookupByUUIDString(str(vm.uuid))
    xml = etree.fromstring(dom.XMLDesc(0))
    assert xml.findtext("cputune/quota") == "50000"
    assert xml.findtext("devices/disk[@device='disk']/iotune/read_iops_sec") == "200"
    assert hypervisor.memory_hard_limit_mib(sim_host.uri, str(vm.uuid)) == 768
    starting = vm.operations.get().steps.get(name="starting")
    assert "768 MiB" in starting.detail


def test_api_exposes_and_validates_flavor_limits(db, world, api):
    api.force_authenticate(world.platform_admin)
    body = {"name": "limited", "vcpus": 1, "ram_mib": 512, "disk_gib": 1, **LIMITS}
    body["memory_hard_limit_mib"] = 128
    response = api.post("/api/v1/flavors/", body, format="json")
    assert response.status_code == 400
    assert "at least the RAM" in str(response.json()["memory_hard_limit_mib"])
    response = api.post("/api/v1/flavors/", body | {"cpu_cap_percent": 500}, format="json")
    assert response.status_code == 400
    assert "cpu_cap_percent" in response.json()
    body["memory_hard_limit_mib"] = 768
    response = api.post("/api/v1/flavors/", body, format="json")
    assert response.status_code == 201, response.content
    flavor_id = response.json()["id"]
    assert response.json()["cpu_cap_percent"] == 50
    response = api.patch(f"/api/v1/flavors/{flavor_id}/", {"cpu_shares": 2048}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["cpu_shares"] == 2048
    api.force_authenticate(world.member)
    response = api.patch(f"/api/v1/flavors/{flavor_id}/", {"cpu_shares": 4}, format="json")
    assert response.status_code == 403
    assert api.get(f"/api/v1/flavors/{flavor_id}/").json()["cpu_shares"] == 2048


def test_flavors_page_shows_limits_and_cost(db, world, client):
    FlavorFactory(name="capped", vcpus=2, ram_mib=512, disk_gib=1, **LIMITS)
    FlavorFactory(name="plain", vcpus=1, ram_mib=256, disk_gib=1)
    client.force_login(world.member)
    page = client.get("/flavors/").content.decode()
    assert "capped" in page and "plain" in page
    assert "50% of a CPU per vCPU" in page
    assert "read 10 MiB/s" in page
    assert "in 1000 KiB/s" in page


def test_vm_page_shows_its_flavor_limits(world, sim_host, image, run_on_commit, client):
    flavor = FlavorFactory(name="capped", vcpus=1, ram_mib=512, disk_gib=1, cpu_cap_percent=25)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="capped-2",
    )
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    limits = page[page.index('id="vm-limits"') :]
    assert "25% of a CPU per vCPU" in limits[: limits.index("</dd>")]
