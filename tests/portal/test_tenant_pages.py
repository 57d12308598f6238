"""The tenant page: members and environments managed by tenant admins; the tenant switcher."""

from __future__ import annotations

import pytest

from portal.models import Membership
from tests.factories import MembershipFactory, UserFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


def post(client, **data):
    return client.post("/tenant/", data, follow=True).content.decode()


def test_tenant_admin_changes_roles_and_keeps_an_admin(world, client):
    dora = UserFactory(username="dora", email="dora@example.org")
    client.force_login(world.tenant_admin)
    # Tenant admins invite people; they cannot add an existing user by name or address.
    page = post(client, do="add", user="dora@example.org", role="member")
    assert "by invitation" in page and 'data-action="add-member"' not in page
    assert not Membership.objects.filter(user=dora).exists()
    membership = MembershipFactory(tenant=world.tenant, user=dora, role="member")
    post(client, do="role", membership=membership.pk, role="approver")
    membership.refresh_from_db()
    assert membership.role == "approver"
    mine = Membership.objects.get(user=world.tenant_admin)
    assert "last admin" in post(client, do="remove", membership=mine.pk)
    post(client, do="remove", membership=membership.pk)
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_members_read_but_cannot_change(world, client):
    client.force_login(world.member)
    page = client.get("/tenant/").content.decode()
    assert 'data-member="apollo-approver"' in page and 'data-action="add-member"' not in page
    assert "does not allow" in post(
        client, do="add", user=world.other_member.username, role="member"
    )
    approver = Membership.objects.get(user=world.approver)
    assert "does not allow" in post(client, do="role", membership=approver.pk, role="admin")
    approver.refresh_from_db()
    assert approver.role == "approver"


def test_environment_policy_from_the_page(world, client):
    # Tightening (4 vCPUs down to 2) applies at once; loosening waits (test_policy_changes.py).
    world.production.auto_approve_max_vcpus = 4
    world.production.save()
    client.force_login(world.tenant_admin)
    page = post(
        client,
        do="environment",
        environment=world.production.pk,
        requires_approval="on",
        auto_approve_max_vcpus="2",
        auto_approve_max_ram_mib="",
    )
    assert "Policy of production saved." in page
    world.production.refresh_from_db()
    assert (world.production.auto_approve_max_vcpus, world.production.auto_approve_max_ram_mib) == (
        2,
        None,
    )
    assert "whole number" in post(
        client, do="environment", environment=world.production.pk, auto_approve_max_vcpus="two"
    )


def test_the_switcher_changes_the_tenant_pages_follow(world, other_world, client):
    MembershipFactory(tenant=other_world.tenant, user=world.member, role="member")
    VirtualMachineFactory(environment=world.development, owner=world.member, name="ours")
    VirtualMachineFactory(environment=other_world.development, owner=world.member, name="theirs")
    client.force_login(world.member)
    first = client.get("/").content.decode()
    assert "ours" in first and "theirs" not in first and 'name="tenant"' in first
    client.post("/tenant/switch/", {"tenant": other_world.tenant.pk, "next": "/"})
    second = client.get("/").content.decode()
    assert "theirs" in second and "ours" not in second
    assert other_world.tenant.name in client.get("/tenant/").content.decode()
    outsider = UserFactory()
    client.force_login(outsider)
    assert client.post("/tenant/switch/", {"tenant": world.tenant.pk}).status_code == 404
