"""Issue 12 end to end on a real QEMU guest: a member registers her key pair, requests a VM on
the tenant's user network through the API, and logs in as root with the command the API gives;
a stranger's key is refused; deleting the VM gives its port back."""

from __future__ import annotations

import re

import paramiko
import pytest
from rest_framework.test import APIClient

from compute import ipam
from compute.choices import VMState
from compute.models import NetworkGrant, NetworkInterface, VirtualMachine
from portal.choices import PlatformRole, Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import BOOT_TIMEOUT, Guests
from tests.integration.test_guest_access import _free_port, _key_pair, _run, _ssh, _try_ssh
from tests.integration.test_real_guest import _wait_state
from tests.support.worker import celery_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_member_logs_into_her_vm_with_the_command_the_api_gives(
    qemu_host, tiny_image, guests: Guests, tmp_path, settings
):
    port = _free_port()
    settings.NUAGE = {**settings.NUAGE, "USER_NET_PORTS": (port, port)}
    tenant = TenantFactory(name="Apollo", slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development")
    alice = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    admin = UserFactory(username="root-admin", platform_role=PlatformRole.ADMIN)
    net = ipam.network_create(created_by=admin, name="user-net", kind="user")
    NetworkGrant.objects.create(network=net, tenant=tenant)
    flavor = FlavorFactory(name="it-small", vcpus=1, ram_mib=256, disk_gib=1)
    owner, stranger = _key_pair("alice@laptop"), _key_pair("mallory@elsewhere")
    api = APIClient()
    api.force_authenticate(alice)

    pair = api.post(
        "/api/v1/keypairs/", {"name": "laptop", "public_key": owner.public_line}, format="json"
    )
    assert pair.status_code == 201, pair.content
    with celery_worker(tmp_path) as worker:
        created = api.post(
            "/api/v1/vms/",
            {
                "name": "it-reach-api",
                "environment": development.pk,
                "flavor": flavor.pk,
                "image": tiny_image.pk,
                "key_pairs": [pair.json()["id"]],
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        vm = created.json()
        assert vm["ssh_command"] == f"ssh -p {port} root@127.0.0.1"
        assert vm["authorized_keys"] == [owner.public_line]
        _wait_state(api, vm["id"], VMState.RUNNING, worker)
        console = guests.wait_booted(vm["domain_name"])
        assert "nuage-guest: 1 authorized key(s) for root" in console

        given = re.fullmatch(r"ssh -p (\d+) root@127\.0\.0\.1", vm["ssh_command"])
        assert given is not None
        client = wait_for(
            lambda: _try_ssh(int(given[1]), owner.private),
            timeout=BOOT_TIMEOUT,
            what="SSH to the guest",
        )
        assert isinstance(client, paramiko.SSHClient)
        with client:
            assert _run(client, "hostname") == "it-reach-api"
            assert _run(client, "id -u") == "0"
        with pytest.raises(paramiko.AuthenticationException):
            _ssh(port, stranger.private)

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
    assert not NetworkInterface.objects.unscoped().filter(vm_id=vm["id"]).exists()
