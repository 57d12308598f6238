"""The volumes page and the VM page's volumes card, through the browser's forms."""

from __future__ import annotations

import pytest

from compute import services
from compute.choices import VolumeState
from compute.models import Volume

pytestmark = pytest.mark.django_db


def test_volumes_page_creates_grows_and_deletes(world, sim_host, client):
    client.force_login(world.member)
    assert client.get("/volumes/").status_code == 200
    answer = client.post(
        "/volumes/",
        {"environment": world.development.pk, "name": "scratch", "size_gib": 3},
    )
    assert answer.status_code == 302
    volume = Volume.objects.unscoped().get(name="scratch")
    page = client.get("/volumes/").content.decode()
    assert 'data-volume="scratch"' in page and "3\xa0GiB" in page
    client.post(f"/volumes/{volume.pk}/resize/", {"size_gib": 2})
    volume.refresh_from_db()
    assert volume.size_gib == 3  # never shrinks; the page says why
    client.post(f"/volumes/{volume.pk}/resize/", {"size_gib": 5})
    volume.refresh_from_db()
    assert volume.size_gib == 5
    client.post(f"/volumes/{volume.pk}/delete/")
    volume.refresh_from_db()
    assert volume.state == VolumeState.DELETED


def test_bad_input_on_the_volumes_page_says_so(world, sim_host, client):
    client.force_login(world.member)
    answer = client.post(
        "/volumes/", {"environment": world.development.pk, "name": "Bad_Name", "size_gib": 1}
    )
    assert answer.status_code == 400
    assert 'data-error-for="name"' in answer.content.decode()
    assert not Volume.objects.unscoped().exists()


def test_another_tenants_volume_is_not_found(world, other_world, sim_host, client):
    theirs = services.volume_create(
        created_by=other_world.member, environment=other_world.development, name="x", size_gib=1
    )
    client.force_login(world.member)
    assert client.post(f"/volumes/{theirs.pk}/delete/").status_code == 404
    assert "data-volume" not in client.get("/volumes/").content.decode()


def test_vm_page_adds_detaches_and_reattaches_a_volume(
    world, sim_host, flavor, image, client, run_on_commit
):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'id="vm-volumes"' in page and 'id="new-volume"' in page
    client.post(f"/vms/{vm.pk}/volumes/new/", {"name": "data", "size_gib": 2})
    volume = Volume.objects.unscoped().get(name="data")
    assert (volume.state, volume.vm_id, volume.target_dev) == (VolumeState.IN_USE, vm.pk, "vdb")
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert "/dev/vdb" in page
    client.post(f"/volumes/{volume.pk}/detach/", {"next": f"/vms/{vm.pk}/"})
    volume.refresh_from_db()
    assert volume.state == VolumeState.AVAILABLE
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'id="attach-volume"' in page
    client.post(f"/vms/{vm.pk}/volumes/attach/", {"volume": volume.pk})
    volume.refresh_from_db()
    assert volume.state == VolumeState.IN_USE
