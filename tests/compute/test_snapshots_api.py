"""/api/v1/vms/{id}/snapshots/ as a script uses it: take, list, revert, delete, and refusals."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from compute import services
from compute.choices import VMState
from compute.models import Snapshot, VirtualMachine
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_snapshots_through_the_api(world, sim_host, flavor, image, run_on_commit):
    member = client_for(world.member)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    url = f"/api/v1/vms/{vm.pk}/snapshots/"
    assert member.get(url).json() == []

    created = member.post(url, {"name": "before-upgrade"}, format="json")
    assert created.status_code == 202, created.json()
    body = created.json()
    assert (body["name"], body["with_memory"], body["vm"], body["vm_name"]) == (
        "before-upgrade",
        True,
        vm.pk,
        "web-1",
    )
    sid = body["id"]
    listed = member.get(url).json()
    assert [(s["id"], s["state"], s["size_gib"]) for s in listed] == [(sid, "ready", 1)]

    duplicate = member.post(url, {"name": "before-upgrade"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    wrong = member.post(url, {"name": "disk", "with_memory": False}, format="json")
    assert wrong.status_code == 400 and "with_memory" in wrong.json()

    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    reverted = member.post(f"{url}{sid}/revert/")
    assert reverted.status_code == 202, reverted.json()
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING  # the snapshot was taken running, with its memory

    assert member.post(f"{url}99999/revert/").status_code == 404
    assert member.delete(f"{url}99999/").status_code == 404

    deleted = member.delete(f"{url}{sid}/")
    assert deleted.status_code == 202, deleted.json()
    assert member.get(url).json() == []
    assert member.post(f"{url}{sid}/revert/").status_code == 404  # deleted: missing


def test_a_vm_in_transition_is_a_409(world, sim_host, flavor, image):
    vm = VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=flavor,
        image=image,
        host=sim_host,
        state=VMState.STARTING,
    )
    answer = client_for(world.member).post(
        f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "now"}, format="json"
    )
    assert answer.status_code == 409
    assert not Snapshot.objects.unscoped().exists()


def test_another_tenants_vm_and_snapshots_are_unknown(world, other_world, sim_host, flavor, image):
    theirs = VirtualMachineFactory(
        environment=other_world.development,
        owner=other_world.member,
        flavor=flavor,
        image=image,
        host=sim_host,
        state=VMState.RUNNING,
    )
    snapshot = Snapshot.objects.create(vm=theirs, name="theirs", state="ready")
    member = client_for(world.member)
    base = f"/api/v1/vms/{theirs.pk}/snapshots/"
    assert member.get(base).status_code == 404
    assert member.post(base, {"name": "mine"}, format="json").status_code == 404
    assert member.post(f"{base}{snapshot.pk}/revert/").status_code == 404
    assert member.delete(f"{base}{snapshot.pk}/").status_code == 404
    # Their snapshot under one of our own VMs is just as unknown.
    ours = VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=flavor,
        image=image,
        host=sim_host,
        state=VMState.RUNNING,
    )
    own = f"/api/v1/vms/{ours.pk}/snapshots/{snapshot.pk}/"
    assert member.post(f"{own}revert/").status_code == 404
    assert member.delete(own).status_code == 404
    snapshot.refresh_from_db()
    assert snapshot.state == "ready"
    assert VirtualMachine.objects.get(pk=theirs.pk).state == VMState.RUNNING
