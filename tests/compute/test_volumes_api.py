"""/api/v1/volumes/ as a script uses it: create, attach, grow, detach, delete, and the refusals."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from compute import services
from compute.choices import VMState
from compute.models import Volume
from quotas.models import Quota
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_volume_through_the_api(world, sim_host, flavor, image, run_on_commit):
    member = client_for(world.member)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    created = member.post(
        "/api/v1/volumes/",
        {"name": "data", "environment": world.development.pk, "size_gib": 2},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["state"], body["host"], body["vm"], body["size_gib"]) == (
        "available",
        None,
        None,
        2,
    )
    url = f"/api/v1/volumes/{body['id']}/"

    attached = member.post(f"{url}attach/", {"vm": vm.pk}, format="json")
    assert attached.status_code == 202, attached.json()
    body = member.get(url).json()
    assert (body["state"], body["vm"], body["vm_name"], body["target_dev"], body["host"]) == (
        "in_use",
        vm.pk,
        "web-1",
        "vdb",
        sim_host.name,
    )
    again = member.post(f"{url}attach/", {"vm": vm.pk}, format="json")
    assert again.status_code == 409
    assert "already attached" in again.json()["detail"]
    assert member.delete(url).status_code == 409

    smaller = member.post(f"{url}resize/", {"size_gib": 1}, format="json")
    assert smaller.status_code == 400
    assert "only grows" in smaller.json()["size_gib"][0]
    grown = member.post(f"{url}resize/", {"size_gib": 3}, format="json")
    assert grown.status_code == 202
    assert member.get(url).json()["size_gib"] == 3

    assert member.post(f"{url}detach/").status_code == 202
    assert member.get(url).json()["state"] == "available"
    assert member.post(f"{url}detach/").status_code == 409
    assert member.delete(url).status_code == 202
    assert member.get(url).status_code == 404
    assert member.get("/api/v1/volumes/").json()["results"] == []


def test_over_quota_is_a_400_and_nothing_is_written(world, sim_host):
    Quota.objects.unscoped().filter(environment=world.development).update(disk_gib_limit=4)
    answer = client_for(world.member).post(
        "/api/v1/volumes/",
        {"name": "big", "environment": world.development.pk, "size_gib": 5},
        format="json",
    )
    assert answer.status_code == 400
    assert "Quota exceeded" in answer.json()["size_gib"][0]
    assert not Volume.objects.unscoped().exists()


def test_another_tenants_volume_and_vm_are_unknown(world, other_world, sim_host):
    theirs = services.volume_create(
        created_by=other_world.member,
        environment=other_world.development,
        name="theirs",
        size_gib=1,
    )
    their_vm = VirtualMachineFactory(
        environment=other_world.development, owner=other_world.member, state=VMState.RUNNING
    )
    ours = services.volume_create(
        created_by=world.member, environment=world.development, name="ours", size_gib=1
    )
    member = client_for(world.member)
    assert [v["name"] for v in member.get("/api/v1/volumes/").json()["results"]] == ["ours"]
    assert member.get(f"/api/v1/volumes/{theirs.pk}/").status_code == 404
    answers = [
        member.post(f"/api/v1/volumes/{ours.pk}/attach/", {"vm": pk}, format="json")
        for pk in (their_vm.pk, 10**9)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json()["vm"] == [f'Invalid pk "{their_vm.pk}" - object does not exist.']
    assert answers[1].json()["vm"] == [f'Invalid pk "{10**9}" - object does not exist.']
    ours.refresh_from_db()
    assert ours.vm is None


def test_filters_by_vm_say_nothing_about_other_tenants(world, other_world, sim_host):
    their_vm = VirtualMachineFactory(environment=other_world.development, owner=other_world.member)
    services.volume_create(
        created_by=world.member, environment=world.development, name="ours", size_gib=1
    )
    member = client_for(world.member)
    for pk in (their_vm.pk, 10**9):
        answer = member.get("/api/v1/volumes/", {"vm": pk})
        assert (answer.status_code, answer.json()["results"]) == (200, [])
    names = [
        v["name"] for v in member.get("/api/v1/volumes/", {"state": "available"}).json()["results"]
    ]
    assert names == ["ours"]
