"""Leases on the VM page, the tenant page and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from compute.choices import VMState
from compute.models import VirtualMachine
from portal.models import Environment, Notification
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(world, flavor, image):
    Environment.objects.filter(pk=world.development.pk).update(
        lease_default_days=30, lease_max_days=60
    )
    now = timezone.now()
    return VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        state=VMState.RUNNING, lease_set_at=now - timedelta(days=25),
        expires_at=now + timedelta(days=5, hours=1),
    )  # fmt: skip


def test_the_vm_page_shows_the_expiry_and_extends_it(world, client, leased):
    client.force_login(world.member)
    page = client.get(f"/vms/{leased.pk}/").content.decode()
    assert 'id="lease"' in page and "in 5 days" in page and "lease-soon" in page
    assert 'data-action="lease-extend"' in page and "At most 60 days" in page
    assert 'data-action="lease-ask"' in page

    answer = client.post(f"/vms/{leased.pk}/lease/", {"do": "extend", "days": "40"})
    assert answer.status_code == 302 and answer["Location"].endswith("#lease")
    leased.refresh_from_db()
    assert timedelta(days=39, hours=23) < leased.expires_at - timezone.now() <= timedelta(days=40)
    page = client.get(f"/vms/{leased.pk}/").content.decode()
    assert "now ends in 40 days" in page and "lease-soon" not in page

    refused = client.post(f"/vms/{leased.pk}/lease/", {"do": "extend", "days": "61"}, follow=True)
    assert "at most 60 days from today; ask an approver" in refused.content.decode()
    client.post(f"/vms/{leased.pk}/lease/", {"do": "ask", "days": "120", "reason": "Audit season."})
    assert Notification.objects.filter(user=world.approver, kind="lease.extension_asked").exists()


def test_a_vm_without_a_lease_shows_none(world, client, flavor, image):
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        state=VMState.RUNNING,
    )  # fmt: skip
    client.force_login(world.member)
    assert 'id="lease"' not in client.get(f"/vms/{vm.pk}/").content.decode()


def test_the_api_shows_and_extends_the_lease(world, other_world, api, leased):
    api.force_authenticate(world.member)
    shown = api.get(f"/api/v1/vms/{leased.pk}/").json()
    assert shown["expires_at"] and shown["lease_set_at"]
    answer = api.post(f"/api/v1/vms/{leased.pk}/lease/extend/", {"days": 10}, format="json")
    assert answer.status_code == 200
    assert answer.json()["expires_at"] > shown["lease_set_at"]
    too_long = api.post(f"/api/v1/vms/{leased.pk}/lease/extend/", {"days": 61}, format="json")
    assert too_long.status_code == 400 and "days" in too_long.json()
    bad = api.post(f"/api/v1/vms/{leased.pk}/lease/extend/", {"days": "soon"}, format="json")
    assert bad.status_code == 400 and "days" in bad.json()
    asked = api.post(
        f"/api/v1/vms/{leased.pk}/lease/ask/", {"days": 90, "reason": "Q4."}, format="json"
    )
    assert asked.status_code == 202
    api.force_authenticate(world.approver)
    beyond = api.post(f"/api/v1/vms/{leased.pk}/lease/extend/", {"days": 90}, format="json")
    assert beyond.status_code == 200
    api.force_authenticate(other_world.member)
    assert (
        api.post(f"/api/v1/vms/{leased.pk}/lease/extend/", {"days": 5}, format="json").status_code
        == 404
    )


def test_tenant_admins_set_the_policy_and_existing_vms_get_a_lease_from_now(
    world, client, api, flavor, image, django_capture_on_commit_callbacks
):
    old = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        state=VMState.RUNNING,
    )  # fmt: skip
    VirtualMachine.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=700))
    client.force_login(world.tenant_admin)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/tenant/",
            {
                "do": "environment",
                "environment": world.development.pk,
                "lease_default_days": "14",
                "lease_max_days": "30",
            },
        )
    assert answer.status_code == 302
    env = Environment.objects.get(pk=world.development.pk)
    assert (env.lease_default_days, env.lease_max_days) == (14, 30)
    old.refresh_from_db()
    assert old.state == VMState.RUNNING
    left = old.expires_at - timezone.now()
    assert timedelta(days=13, hours=23) < left <= timedelta(days=14)
    page = client.get("/tenant/").content.decode()
    assert 'name="lease_default_days"' in page and 'value="14"' in page

    api.force_authenticate(world.tenant_admin)
    bad = api.patch(
        f"/api/v1/environments/{world.development.pk}/",
        {"lease_default_days": 40, "lease_max_days": 20},
        format="json",
    )
    assert bad.status_code == 400 and "lease_max_days" in bad.json()
    shown = api.get(f"/api/v1/environments/{world.development.pk}/").json()
    assert (shown["lease_default_days"], shown["lease_max_days"]) == (14, 30)


def test_the_expiry_is_shown_in_the_tenants_zone(world, client, leased):
    from datetime import UTC, datetime

    world.tenant.timezone = "Europe/Paris"
    world.tenant.save()
    VirtualMachine.objects.filter(pk=leased.pk).update(
        expires_at=datetime(2099, 7, 1, 10, 30, tzinfo=UTC)
    )
    client.force_login(world.member)
    page = client.get(f"/vms/{leased.pk}/").content.decode()
    assert "1 Jul 2099, 12:30 (Europe/Paris)" in page  # one date format (portal/formats)
