"""The VM page's snapshots card: take, revert, delete and schedule from the browser's forms."""

from __future__ import annotations

import pytest
from django.test import Client

from compute import services
from compute.choices import VMState
from compute.models import Snapshot, SnapshotSchedule
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def test_the_vm_page_takes_reverts_and_deletes_snapshots(
    world, sim_host, flavor, image, run_on_commit
):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    client = Client()
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'id="vm-snapshots"' in page and 'id="no-snapshots"' in page

    answer = client.post(f"/vms/{vm.pk}/snapshots/take/", {"name": "first", "with_memory": "on"})
    assert answer.status_code == 302 and answer["Location"].endswith("#vm-snapshots")
    snapshot = Snapshot.objects.get(vm=vm, name="first")
    assert (snapshot.state, snapshot.with_memory) == ("ready", True)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'data-snapshot="first"' in page and 'data-action="revert"' in page

    # A bad name comes back as a message, nothing written.
    client.post(f"/vms/{vm.pk}/snapshots/take/", {"name": "Bad Name", "with_memory": "on"})
    assert Snapshot.objects.filter(vm=vm).count() == 1

    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    client.post(f"/vms/{vm.pk}/snapshots/{snapshot.pk}/revert/")
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING

    client.post(f"/vms/{vm.pk}/snapshots/schedule/", {"frequency": "weekly", "retention": "3"})
    schedule = SnapshotSchedule.objects.get(vm=vm)
    assert (schedule.frequency, schedule.retention) == ("weekly", 3)
    assert "newest 3 kept" in client.get(f"/vms/{vm.pk}/").content.decode()
    client.post(f"/vms/{vm.pk}/snapshots/schedule/", {"remove": "1"})
    assert not SnapshotSchedule.objects.filter(vm=vm).exists()

    client.post(f"/vms/{vm.pk}/snapshots/{snapshot.pk}/delete/")
    snapshot.refresh_from_db()
    assert snapshot.state == "deleted"


def test_another_tenants_vm_page_forms_are_404(world, other_world, sim_host, flavor, image):
    theirs = VirtualMachineFactory(
        environment=other_world.development,
        owner=other_world.member,
        flavor=flavor,
        image=image,
        host=sim_host,
        state=VMState.RUNNING,
    )
    snapshot = Snapshot.objects.create(vm=theirs, name="theirs", state="ready")
    client = Client()
    client.force_login(world.member)
    base = f"/vms/{theirs.pk}/snapshots/"
    assert client.post(f"{base}take/", {"name": "x"}).status_code == 404
    assert client.post(f"{base}{snapshot.pk}/revert/").status_code == 404
    assert client.post(f"{base}{snapshot.pk}/delete/").status_code == 404
    assert (
        client.post(f"{base}schedule/", {"frequency": "daily", "retention": 1}).status_code == 404
    )
    assert Snapshot.objects.get(pk=snapshot.pk).state == "ready"
