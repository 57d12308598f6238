"""One VM's whole life as a real QEMU guest, driven through the REST API and a Celery worker."""

from __future__ import annotations

from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from compute.choices import VMState
from compute.models import VirtualMachine
from portal.choices import Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import BOOT_TIMEOUT, Guests
from tests.support.worker import Worker, celery_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"  # tests.factories.UserFactory's
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk3x2G2t0pZ5s1QyQhPn6Gq3yQk8T1v0bq9x5l7m2aB alice@it"
)


def _login(username: str) -> APIClient:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def _wait_state(client: APIClient, vm_id: int, state: str, worker: Worker) -> dict[str, Any]:
    """Poll the VM as its owner sees it until it reaches `state`; fail at once on error."""

    def shown() -> dict[str, Any] | None:
        data = client.get(f"/api/v1/vms/{vm_id}/").json()
        if data["state"] == VMState.ERROR:
            raise AssertionError(f"VM went to error: {data['error_message']}\n{worker.log()}")
        return data if data["state"] == state else None

    return cast(
        dict[str, Any], wait_for(shown, timeout=BOOT_TIMEOUT, interval=0.25, what=f"VM {state}")
    )


def test_approved_vm_boots_stops_starts_and_is_deleted(
    qemu_host, tiny_image, guests: Guests, tmp_path
):
    tenant = TenantFactory(name="Apollo", slug="apollo")
    production = EnvironmentFactory(tenant=tenant, name="production", requires_approval=True)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    MembershipFactory(tenant=tenant, user=bob, role=Role.APPROVER)
    flavor = FlavorFactory(name="it-two-cpus", vcpus=2, ram_mib=256, disk_gib=1)
    as_alice, as_bob = _login("alice"), _login("bob")

    # The guest powers off in ~2 s, but tests.settings' 5 s grace is tight for TCG on a busy
    # machine: past it the stop would pull the plug, and this test checks that it did not.
    with celery_worker(tmp_path, extra_env={"NUAGE_STOP_GRACE_SECONDS": "30"}) as worker:
        response = as_alice.post(
            "/api/v1/vms/",
            {
                "name": "it-web",
                "environment": production.pk,
                "flavor": flavor.pk,
                "image": tiny_image.pk,
                "ssh_public_key": PUBLIC_KEY,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        vm = response.json()
        assert vm["state"] == VMState.PENDING_APPROVAL
        vm_id, domain = vm["id"], vm["domain_name"]

        response = as_bob.post(f"/api/v1/vms/{vm_id}/approve/")
        assert response.status_code == 202, response.content

        running = _wait_state(as_alice, vm_id, VMState.RUNNING, worker)
        assert running["runtime_state"] == "running"
        assert running["host"] == qemu_host.name
        console = guests.wait_booted(domain)
        # The guest applied the cloud-init seed that provisioning wrote for it.
        assert "nuage-guest: hostname it-web" in console
        assert f"nuage-guest: instance-id {vm['uuid']}" in console
        assert "nuage-guest: 1 authorized key(s) for root" in console
        info = guests.dominfo(domain)
        assert info["State"] == "running"
        assert info["CPU(s)"] == "2"
        assert info["Max memory"] == f"{256 * 1024} KiB"

        response = as_alice.post(f"/api/v1/vms/{vm_id}/stop/")
        assert response.status_code == 202, response.content
        stopped = _wait_state(as_alice, vm_id, VMState.STOPPED, worker)
        assert stopped["runtime_state"] == "shutoff"
        # Graceful: the guest's acpid handled the power button; nothing was pulled.
        assert stopped["operation"]["steps"][0]["detail"] == "Guest shut down."
        assert "ACPI power button, powering off" in guests.console(domain)
        assert guests.dominfo(domain)["State"] == "shut off"

        response = as_alice.post(f"/api/v1/vms/{vm_id}/start/")
        assert response.status_code == 202, response.content
        _wait_state(as_alice, vm_id, VMState.RUNNING, worker)
        # libvirt truncates the serial log at each start: this marker is from the second boot.
        console = guests.wait_booted(domain)
        assert "powering off" not in console
        assert guests.dominfo(domain)["State"] == "running"

        response = as_alice.delete(f"/api/v1/vms/{vm_id}/")
        assert response.status_code == 202, response.content
        wait_for(
            lambda: VirtualMachine.objects.filter(pk=vm_id, state=VMState.DELETED).exists(),
            timeout=BOOT_TIMEOUT,
            what="VM deleted",
        )
        assert as_alice.get(f"/api/v1/vms/{vm_id}/").status_code == 404

    assert guests.virsh("dominfo", domain, check=False).returncode != 0
    assert guests.domains(domain) == []
    assert guests.volumes(domain) == []
