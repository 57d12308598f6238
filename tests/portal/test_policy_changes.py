"""Approval policies under four eyes: loosening by a tenant admin waits for a second admin,
tightening applies at once, and the tenant's approvers hear of both."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from portal import services
from portal.choices import Role
from portal.models import AuditEntry, PolicyChange
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def second_admin(world):
    user = UserFactory(username="apollo-admin-2")
    MembershipFactory(tenant=world.tenant, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def addresses(world):
    world.approver.email = "approver@apollo.test"
    world.approver.save()
    world.member.email = "member@apollo.test"
    world.member.save()


@pytest.mark.parametrize(
    "old,new,loosens",
    [
        ((True, None, None), (False, None, None), True),
        ((True, None, None), (True, 2, None), True),
        ((True, 2, 1024), (True, 4, 1024), True),
        ((True, 2, 1024), (True, 2, None), True),
        ((True, 2, 1024), (True, None, None), False),  # every request waits now
        ((True, 2, 1024), (True, 1, 512), False),
        ((False, None, None), (True, 8, 8192), False),
        ((True, 2, None), (True, 2, 4096), False),
    ],
)
def test_what_loosens_a_policy(old, new, loosens):
    keys = services.POLICY_FIELDS
    before, after = dict(zip(keys, old, strict=True)), dict(zip(keys, new, strict=True))
    assert services.policy_loosens(before, after) is loosens


def test_tenant_admin_loosening_waits_for_a_second_admin(
    world, second_admin, addresses, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = as_user(world.tenant_admin).patch(
            f"/api/v1/environments/{world.production.pk}/",
            {"requires_approval": False},
            format="json",
        )
    assert answer.status_code == 202, answer.content
    proposal = answer.json()
    assert proposal["status"] == "pending"
    assert proposal["proposed"]["requires_approval"] is False
    world.production.refresh_from_db()
    assert world.production.requires_approval  # not applied yet
    # The approvers are told (not plain members).
    assert [m.to for m in mail.outbox] == [["approver@apollo.test"]]
    assert "waits for a second admin" in mail.outbox[0].subject

    # The author cannot approve their own proposal.
    own = as_user(world.tenant_admin).post(f"/api/v1/policy-changes/{proposal['id']}/approve/")
    assert own.status_code == 403
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approved = as_user(second_admin).post(f"/api/v1/policy-changes/{proposal['id']}/approve/")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == second_admin.username
    world.production.refresh_from_db()
    assert not world.production.requires_approval
    assert "changed" in mail.outbox[0].subject
    again = as_user(second_admin).post(f"/api/v1/policy-changes/{proposal['id']}/approve/")
    assert again.status_code == 409
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"environment.policy_propose", "environment.policy_approve"} <= actions


def test_tightening_applies_at_once_and_is_announced(
    world, addresses, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = as_user(world.tenant_admin).patch(
            f"/api/v1/environments/{world.development.pk}/",
            {"requires_approval": True},
            format="json",
        )
    assert answer.status_code == 200, answer.content
    world.development.refresh_from_db()
    assert world.development.requires_approval
    assert not PolicyChange.objects.exists()
    assert len(mail.outbox) == 1 and "changed" in mail.outbox[0].subject
    assert "every request waits for an approver" in mail.outbox[0].body


def test_platform_admin_loosens_at_once(world):
    answer = as_user(world.platform_admin).patch(
        f"/api/v1/environments/{world.production.pk}/",
        {"auto_approve_max_vcpus": 2},
        format="json",
    )
    assert answer.status_code == 200
    world.production.refresh_from_db()
    assert world.production.auto_approve_max_vcpus == 2


def test_rename_applies_while_the_loosening_waits(world):
    answer = as_user(world.tenant_admin).patch(
        f"/api/v1/environments/{world.production.pk}/",
        {"name": "prod", "auto_approve_max_vcpus": 4},
        format="json",
    )
    assert answer.status_code == 202
    world.production.refresh_from_db()
    assert world.production.name == "prod"
    assert world.production.auto_approve_max_vcpus is None


def test_proposals_are_rejected_or_withdrawn_and_hidden_from_others(
    world, second_admin, other_world
):
    _env, proposal = services.environment_change(
        updated_by=world.tenant_admin, environment=world.production, requires_approval=False
    )
    assert proposal is not None
    # Approvers and other tenants' admins do not see proposals (404, as an unknown id).
    for outsider in (world.approver, other_world.tenant_admin):
        answer = as_user(outsider).post(f"/api/v1/policy-changes/{proposal.pk}/approve/")
        assert answer.status_code == 404
    withdrawn = as_user(world.tenant_admin).post(f"/api/v1/policy-changes/{proposal.pk}/reject/")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "rejected"
    world.production.refresh_from_db()
    assert world.production.requires_approval


def test_tenant_page_offers_the_second_admin_to_approve(world, second_admin, client):
    client.force_login(world.tenant_admin)
    page = client.post(
        "/tenant/",
        {"do": "environment", "environment": world.production.pk, "auto_approve_max_vcpus": "2",
         "requires_approval": "on"},
        follow=True,
    )  # fmt: skip
    assert "another tenant admin or a platform admin approves it" in page.content.decode()
    proposal = PolicyChange.objects.get()
    assert 'data-action="approve-policy"' not in page.content.decode()  # not one's own
    client.force_login(second_admin)
    page = client.get("/tenant/").content.decode()
    assert f'data-policy-change="{proposal.pk}"' in page
    assert 'data-action="approve-policy"' in page
    done = client.post(
        "/tenant/", {"do": "policy-approve", "policy_change": proposal.pk}, follow=True
    )
    assert "approved and applied" in done.content.decode()
    world.production.refresh_from_db()
    assert world.production.auto_approve_max_vcpus == 2
