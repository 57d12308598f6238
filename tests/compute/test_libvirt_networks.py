"""Nat and isolated networks are defined by Nuage on every host (libvirt's test driver): when the
network is created, when a host joins, and before a VM's domain is defined; removed with it."""

from __future__ import annotations

import libvirt
import pytest
from django.core.exceptions import ValidationError
from lxml import etree

from compute import hypervisor, ipam, services
from compute.choices import VMState
from compute.hypervisor.connection import get_connection
from compute.models import Host, Network, NetworkGrant
from tests.conftest import make_sim_host

pytestmark = pytest.mark.django_db


def _net(host: Host, name: str) -> libvirt.virNetwork | None:
    try:
        return get_connection(host.uri).networkLookupByName(name)
    except libvirt.libvirtError:
        return None


def _facts(net: libvirt.virNetwork) -> dict[str, object]:
    tree = etree.fromstring(net.XMLDesc(0).encode())
    ip = tree.find("ip")
    return {
        "forward": tree.find("forward").get("mode") if tree.find("forward") is not None else None,
        "bridge": tree.find("bridge").get("name"),
        "ip": (ip.get("address"), ip.get("prefix")) if ip is not None else None,
        "dhcp": tree.find("ip/dhcp") is not None,
        "active": bool(net.isActive()),
        "autostart": bool(net.autostart()),
    }


def backend(admin, kind: str = "isolated", **fields) -> Network:
    data = {
        "name": "backend",
        "kind": kind,
        "subnet": "10.30.0.0/24",
        "gateway": "10.30.0.1",
        "pool_start": "10.30.0.10",
        "pool_end": "10.30.0.50",
        **fields,
    }
    return ipam.network_create(created_by=admin, **data)


def test_driver_defines_a_nat_network_once_without_dhcp_and_removes_it(sim_host):
    spec = hypervisor.NetworkSpec(
        name="nuage-t-nat", kind="nat", bridge="nu-t1", gateway="10.9.0.1", prefix=24
    )
    assert hypervisor.ensure_network(sim_host.uri, spec) is True
    assert hypervisor.ensure_network(sim_host.uri, spec) is False  # idempotent: adopted
    net = _net(sim_host, "nuage-t-nat")
    assert net is not None
    assert _facts(net) == {
        "forward": "nat",
        "bridge": "nu-t1",
        "ip": ("10.9.0.1", "24"),
        "dhcp": False,
        "active": True,
        "autostart": True,
    }
    net.destroy()  # stopped behind Nuage's back: started again
    assert hypervisor.ensure_network(sim_host.uri, spec) is False
    assert _net(sim_host, "nuage-t-nat").isActive()
    assert hypervisor.remove_network(sim_host.uri, "nuage-t-nat") is True
    assert hypervisor.remove_network(sim_host.uri, "nuage-t-nat") is False
    assert _net(sim_host, "nuage-t-nat") is None


def test_driver_isolated_network_has_no_forward_and_no_address_without_gateway(sim_host):
    spec = hypervisor.NetworkSpec(name="nuage-t-iso", kind="isolated", bridge="nu-t2")
    hypervisor.ensure_network(sim_host.uri, spec)
    facts = _facts(_net(sim_host, "nuage-t-iso"))
    assert (facts["forward"], facts["ip"], facts["active"]) == (None, None, True)


def test_driver_refuses_to_adopt_a_different_network_of_the_same_name(sim_host):
    conn = get_connection(sim_host.uri)
    conn.networkDefineXML(
        "<network><name>nuage-t-hand</name><bridge name='nu-hand'/><forward mode='nat'/>"
        "<ip address='10.9.9.1' prefix='24'><dhcp><range start='10.9.9.2' end='10.9.9.9'/>"
        "</dhcp></ip></network>"
    )
    spec = hypervisor.NetworkSpec(
        name="nuage-t-hand", kind="nat", bridge="nu-hand", gateway="10.9.9.1", prefix=24
    )
    with pytest.raises(hypervisor.HypervisorError, match="DHCP on"):
        hypervisor.ensure_network(sim_host.uri, spec)


def test_creating_a_network_defines_it_on_every_host_and_shows_each_hosts_status(
    world, tmp_path, run_on_commit
):
    hosts = [make_sim_host(tmp_path), make_sim_host(tmp_path)]
    net = backend(world.platform_admin, kind="nat")
    net.refresh_from_db()
    for host in hosts:
        facts = _facts(_net(host, "nuage-backend"))
        assert facts["forward"] == "nat" and facts["ip"] == ("10.30.0.1", "24")
        assert not facts["dhcp"]
        assert net.host_status[host.name]["ok"] is True
    # A user network is nothing libvirt defines.
    ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    assert hypervisor.network_names(hosts[0].uri) == ["nuage-backend"]

    ipam.network_delete(network=net, deleted_by=world.platform_admin)
    assert all(_net(h, "nuage-backend") is None for h in hosts)


def test_a_host_added_later_gets_the_existing_networks(world, tmp_path):
    net = backend(world.platform_admin)
    host = make_sim_host(tmp_path)  # registered (refreshed) after the network exists
    assert _facts(_net(host, "nuage-backend"))["forward"] is None
    net.refresh_from_db()
    assert net.host_status[host.name]["ok"] is True


def test_provisioning_defines_the_vms_network_on_its_host_first(
    world, sim_host, flavor, image, run_on_commit
):
    net = backend(world.platform_admin)
    remove = hypervisor.remove_network(sim_host.uri, net.libvirt_name)
    assert remove is True  # made when the network was created; gone since
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert _net(sim_host, "nuage-backend").isActive()


def test_a_host_that_refuses_the_network_fails_the_step_with_the_reason(
    world, sim_host, flavor, image, run_on_commit
):
    net = backend(world.platform_admin)
    hypervisor.remove_network(sim_host.uri, net.libvirt_name)
    get_connection(sim_host.uri).networkDefineXML(
        "<network><name>nuage-backend</name><bridge name='virbr9'/></network>"
    )
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    step = vm.operations.get().steps.get(name="defining")
    assert "nuage-backend" in step.detail and "differs" in step.detail
    net.refresh_from_db()
    assert net.host_status[sim_host.name]["ok"] is False


def test_networks_page_shows_a_hosts_failure_to_the_admin(world, sim_host, client):
    net = backend(world.platform_admin)
    Network.objects.filter(pk=net.pk).update(
        host_status={sim_host.name: {"ok": False, "detail": "bridge nu-x is busy", "at": ""}}
    )
    client.force_login(world.platform_admin)
    page = client.get("/networks/").content.decode()
    assert f'data-host-error="{sim_host.name}"' in page and "bridge nu-x is busy" in page


def test_changing_the_gateway_redefines_the_network_on_the_hosts(world, sim_host, run_on_commit):
    net = backend(world.platform_admin)
    ipam.network_update(updated_by=world.platform_admin, network=net, gateway="10.30.0.2")
    assert _facts(_net(sim_host, "nuage-backend"))["ip"] == ("10.30.0.2", "24")
    ipam.network_update(updated_by=world.platform_admin, network=net, name="backend2")
    assert _net(sim_host, "nuage-backend") is None
    assert _net(sim_host, "nuage-backend2").isActive()


def test_a_network_with_vms_keeps_its_name_and_gateway(world, sim_host, flavor, image):
    net = backend(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    with pytest.raises(ValidationError) as err:
        ipam.network_update(
            updated_by=world.platform_admin, network=net, name="other", gateway="10.30.0.3"
        )
    assert set(err.value.message_dict) == {"name", "gateway"}


def test_api_shows_host_status_to_platform_admins_only(world, sim_host, api):
    net = backend(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    Network.objects.filter(pk=net.pk).update(
        host_status={sim_host.name: {"ok": False, "detail": "bridge busy", "at": ""}}
    )
    api.force_authenticate(world.platform_admin)
    row = api.get(f"/api/v1/networks/{net.pk}/").json()
    assert row["host_status"][sim_host.name]["detail"] == "bridge busy"
    api.force_authenticate(world.member)
    assert api.get(f"/api/v1/networks/{net.pk}/").json()["host_status"] == {}


def test_driver_many_workers_ensuring_at_once_define_it_once(sim_host):
    from concurrent.futures import ThreadPoolExecutor

    spec = hypervisor.NetworkSpec(
        name="nuage-t-race", kind="nat", bridge="nu-t3", gateway="10.9.3.1", prefix=24
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda _: hypervisor.ensure_network(sim_host.uri, spec), range(8)))
    assert created.count(True) == 1
    assert _net(sim_host, "nuage-t-race").isActive()
