"""Environment approval policies, edited by tenant admins: auto, approver, auto below a size."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from compute import services as compute
from compute.choices import VMState
from tests.factories import FlavorFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def request(world, flavor, image, name):
    return compute.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name=name,
    )


def test_small_requests_skip_the_approver_when_the_policy_says_so(world, sim_host, image):
    small = FlavorFactory(name="s", vcpus=1, ram_mib=512, disk_gib=1)
    wide = FlavorFactory(name="w", vcpus=4, ram_mib=512, disk_gib=1)
    big = FlavorFactory(name="b", vcpus=1, ram_mib=8192, disk_gib=1)
    assert request(world, small, image, "before").state == VMState.PENDING_APPROVAL

    # Loosening: a platform admin applies it at once (a tenant admin needs a second admin).
    answer = as_user(world.platform_admin).patch(
        f"/api/v1/environments/{world.production.pk}/",
        {"auto_approve_max_vcpus": 2, "auto_approve_max_ram_mib": 1024},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["auto_approve_max_vcpus"] == 2

    world.production.refresh_from_db()
    assert request(world, small, image, "small").state == VMState.PROVISIONING
    assert request(world, wide, image, "wide").state == VMState.PENDING_APPROVAL
    assert request(world, big, image, "big").state == VMState.PENDING_APPROVAL


def test_tenant_admins_create_and_edit_environments_with_clear_errors(world, other_world):
    admin = as_user(world.tenant_admin)
    created = admin.post(
        "/api/v1/environments/",
        {"tenant": world.tenant.pk, "name": "staging", "requires_approval": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    duplicate = admin.post(
        "/api/v1/environments/", {"tenant": world.tenant.pk, "name": "staging"}, format="json"
    )
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    bad = admin.patch(
        f"/api/v1/environments/{world.production.pk}/",
        {"name": "Not A Slug", "auto_approve_max_vcpus": -1},
        format="json",
    )
    assert bad.status_code == 400 and {"auto_approve_max_vcpus"} <= set(bad.json())
    foreign = admin.post(
        "/api/v1/environments/", {"tenant": other_world.tenant.pk, "name": "x"}, format="json"
    )
    assert foreign.status_code == 400 and "tenant" in foreign.json()
    member = as_user(world.member).patch(
        f"/api/v1/environments/{world.production.pk}/", {"requires_approval": False}, format="json"
    )
    assert member.status_code == 403
    world.production.refresh_from_db()
    assert world.production.requires_approval
