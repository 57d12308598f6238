"""An isolated network that Nuage defines itself on the real host: created through the service
(a worker task defines it on the host), a VM requested on it through the API boots and configures
the address Nuage gave it, and deleting the network removes it from the host.

The guest's address is read from its serial console only: nothing here sends traffic to it.
"""

from __future__ import annotations

import secrets

import libvirt
import pytest
from lxml import etree
from rest_framework.test import APIClient

from compute import hypervisor, ipam
from compute.choices import VMState
from compute.models import Network, NetworkGrant, VirtualMachine
from portal.choices import PlatformRole, Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import BOOT_TIMEOUT, URI, Guests
from tests.integration.test_real_guest import _wait_state
from tests.support.worker import celery_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Every network this test makes is nuage-it-iso-<hex>; a failed run's leftover is removed here.
NAME_PREFIX = "it-iso-"


def _libvirt_network(name: str) -> libvirt.virNetwork | None:
    conn = libvirt.open(URI)
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return None


@pytest.fixture
def network_name():
    name = f"{NAME_PREFIX}{secrets.token_hex(3)}"
    yield name
    hypervisor.remove_network(URI, f"nuage-{name}")


def test_vm_on_a_nuage_defined_isolated_network_boots_with_its_address(
    qemu_host, tiny_image, guests: Guests, tmp_path, network_name
):
    third = 200 + secrets.randbelow(50)
    tenant = TenantFactory(name="Apollo", slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development")
    alice = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    admin = UserFactory(username="root-admin", platform_role=PlatformRole.ADMIN)
    flavor = FlavorFactory(name="it-small", vcpus=1, ram_mib=256, disk_gib=1)
    api = APIClient()
    api.force_authenticate(alice)

    with celery_worker(tmp_path) as worker:
        net = ipam.network_create(
            created_by=admin,
            name=network_name,
            kind="isolated",
            subnet=f"10.{third}.77.0/24",
            gateway=f"10.{third}.77.1",
            pool_start=f"10.{third}.77.10",
            pool_end=f"10.{third}.77.20",
        )
        NetworkGrant.objects.create(network=net, tenant=tenant)

        def defined() -> bool:
            status = Network.objects.get(pk=net.pk).host_status.get(qemu_host.name)
            return bool(status and status["ok"])

        wait_for(defined, timeout=60, what=f"{net.libvirt_name} on the host\n{worker.log()}")
        lv = _libvirt_network(net.libvirt_name)
        assert lv is not None and lv.isActive() and lv.autostart()
        tree = etree.fromstring(lv.XMLDesc(0).encode())
        assert tree.find("forward") is None  # isolated
        assert tree.find("ip").get("address") == f"10.{third}.77.1"
        assert tree.find("ip/dhcp") is None  # Nuage assigns the addresses, not dnsmasq

        created = api.post(
            "/api/v1/vms/",
            {
                "name": "it-iso-vm",
                "environment": development.pk,
                "flavor": flavor.pk,
                "image": tiny_image.pk,
                "network": net.pk,
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        vm = created.json()
        _wait_state(api, vm["id"], VMState.RUNNING, worker)
        console = guests.wait_booted(vm["domain_name"])
        assert f"nuage-guest: eth0 10.{third}.77.10" in console, console

        assert api.delete(f"/api/v1/vms/{vm['id']}/").status_code == 202
        wait_for(
            lambda: (
                VirtualMachine.objects.unscoped()
                .filter(pk=vm["id"], state=VMState.DELETED)
                .exists()
            ),
            timeout=BOOT_TIMEOUT,
            what="VM deleted",
        )
        ipam.network_delete(network=net, deleted_by=admin)
        wait_for(
            lambda: _libvirt_network(f"nuage-{network_name}") is None,
            timeout=60,
            what="the network removed from the host",
        )
