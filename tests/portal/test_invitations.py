"""People join a tenant by accepting an invitation; addresses stay within the tenant's admins."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import AuditEntry, Invitation, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def invite(world, django_capture_on_commit_callbacks, email="dora@example.org", role="approver"):
    with django_capture_on_commit_callbacks(execute=True):
        answer = as_user(world.tenant_admin).post(
            "/api/v1/invitations/",
            {"tenant": world.tenant.pk, "email": email, "role": role},
            format="json",
        )
    assert answer.status_code == 201, answer.content
    return answer.json()


def secret_of(link: str) -> str:
    match = re.search(r"/invitations/([^/]+)/", link)
    assert match
    return match.group(1)


def test_invited_user_follows_the_emailed_link_and_joins(
    world, client, django_capture_on_commit_callbacks
):
    made = invite(world, django_capture_on_commit_callbacks)
    assert made["status"] == "pending" and made["role"] == "approver"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dora@example.org"]
    assert made["link"] in mail.outbox[0].body
    secret = secret_of(made["link"])
    # Only a hash is kept.
    assert not Invitation.objects.filter(token_hash__contains=secret).exists()

    dora = UserFactory(username="dora", email="dora@example.org")
    anonymous = client.get(f"/invitations/{secret}/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(dora)
    page = client.get(f"/invitations/{secret}/").content.decode()
    assert "Apollo" in page and 'data-action="accept-invitation"' in page
    joined = client.post(f"/invitations/{secret}/", follow=True)
    assert "you are now Approver" in joined.content.decode()
    assert Membership.objects.get(user=dora, tenant=world.tenant).role == "approver"
    assert AuditEntry.objects.filter(action="invitation.accept", actor=dora).exists()
    # The link is spent.
    again = client.post(f"/invitations/{secret}/", follow=True).content.decode()
    assert "already used" in again


def test_expired_revoked_and_unknown_links_do_not_join(
    world, client, django_capture_on_commit_callbacks
):
    dora = UserFactory(username="dora")
    client.force_login(dora)
    assert client.get("/invitations/not-a-secret/").status_code == 404

    made = invite(world, django_capture_on_commit_callbacks)
    Invitation.objects.filter(pk=made["id"]).update(expires_at=timezone.now() - timedelta(1))
    assert "expired" in client.post(f"/invitations/{secret_of(made['link'])}/").content.decode()

    made = invite(world, django_capture_on_commit_callbacks, email="other@example.org")
    revoke = as_user(world.tenant_admin).delete(f"/api/v1/invitations/{made['id']}/")
    assert revoke.status_code == 204
    assert (
        as_user(world.tenant_admin).delete(f"/api/v1/invitations/{made['id']}/").status_code == 409
    )
    answer = as_user(dora).post(
        "/api/v1/invitations/accept/", {"token": secret_of(made["link"])}, format="json"
    )
    assert answer.status_code == 409 and "revoked" in answer.json()["detail"]
    assert not Membership.objects.filter(user=dora).exists()


def test_accept_through_the_api(world, django_capture_on_commit_callbacks):
    made = invite(world, django_capture_on_commit_callbacks, role="member")
    dora = UserFactory(username="dora", email="dora@example.org")
    answer = as_user(dora).post(
        "/api/v1/invitations/accept/", {"token": secret_of(made["link"])}, format="json"
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["tenant"] == world.tenant.pk
    bad = as_user(dora).post("/api/v1/invitations/accept/", {"token": "nope"}, format="json")
    assert bad.status_code == 400 and "token" in bad.json()


def test_only_tenant_admins_invite_and_see_invitations(
    world, other_world, django_capture_on_commit_callbacks
):
    made = invite(world, django_capture_on_commit_callbacks)
    for user in (world.member, world.approver):
        refused = as_user(user).post(
            "/api/v1/invitations/",
            {"tenant": world.tenant.pk, "email": "x@example.org"},
            format="json",
        )
        assert refused.status_code == 403
        assert as_user(user).get(f"/api/v1/invitations/{made['id']}/").status_code == 404
    outsider = as_user(other_world.tenant_admin)
    assert outsider.get(f"/api/v1/invitations/{made['id']}/").status_code == 404
    foreign = outsider.post(
        "/api/v1/invitations/",
        {"tenant": world.tenant.pk, "email": "x@example.org"},
        format="json",
    )
    assert foreign.status_code == 400 and "tenant" in foreign.json()
    bad = as_user(world.tenant_admin).post(
        "/api/v1/invitations/", {"tenant": world.tenant.pk, "email": "nope"}, format="json"
    )
    assert bad.status_code == 400 and "email" in bad.json()


def test_tenant_admin_cannot_add_an_existing_user_but_platform_admin_can(world, other_world):
    body = {"tenant": world.tenant.pk, "user": other_world.member.pk, "role": "member"}
    refused = as_user(world.tenant_admin).post("/api/v1/memberships/", body, format="json")
    assert refused.status_code == 403
    added = as_user(world.platform_admin).post("/api/v1/memberships/", body, format="json")
    assert added.status_code == 201


def test_only_the_invited_address_accepts_ignoring_case(
    world, client, django_capture_on_commit_callbacks
):
    made = invite(world, django_capture_on_commit_callbacks, email="Dora@Example.org")
    secret = secret_of(made["link"])
    mallory = UserFactory(username="mallory", email="mallory@example.org")
    nobody = UserFactory(username="nobody", email="")
    for user, says in ((mallory, "mallory@example.org"), (nobody, "has none")):
        refused = as_user(user).post("/api/v1/invitations/accept/", {"token": secret})
        assert refused.status_code == 403 and says in refused.json()["detail"]
        client.force_login(user)
        page = client.get(f"/invitations/{secret}/").content.decode()
        assert 'id="invitation-mismatch"' in page and "accept-invitation" not in page
        # Posting anyway (an old tab) is refused the same way, on the page.
        assert says in client.post(f"/invitations/{secret}/", follow=True).content.decode()
    assert not Membership.objects.filter(user__in=[mallory, nobody]).exists()
    assert Invitation.objects.get(pk=made["id"]).status == "pending"  # not spent by them

    dora = UserFactory(username="dora", email="dORA@example.ORG")
    joined = as_user(dora).post("/api/v1/invitations/accept/", {"token": secret})
    assert joined.status_code == 201, joined.content


def test_tenant_page_invites_lists_and_revokes(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.tenant_admin)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/tenant/", {"do": "invite", "email": "erin@example.org", "role": "member"}, follow=True
        ).content.decode()
    assert "Invitation for erin@example.org created" in page
    assert 'data-invitation="erin@example.org"' in page
    assert mail.outbox[0].to == ["erin@example.org"]
    invitation = Invitation.objects.get()
    page = client.post(
        "/tenant/", {"do": "revoke-invitation", "invitation": invitation.pk}, follow=True
    ).content.decode()
    assert "Invitation revoked." in page and 'data-invitation="erin@example.org"' not in page


def test_email_addresses_are_shown_only_to_self_platform_roles_and_tenant_admins(
    world, other_world
):
    world.member.email = "member@apollo.test"
    world.member.save()
    # A user in both tenants: zephyr's admin may see them, but not apollo's other members.
    other_world.member.email = "zed@zephyr.test"
    other_world.member.save()

    def emails(user):
        rows = as_user(user).get("/api/v1/users/?limit=500").json()["results"]
        return {row["username"]: row["email"] for row in rows}

    assert emails(world.member)[world.member.username] == "member@apollo.test"  # themself
    assert emails(world.approver)[world.member.username] == ""  # a fellow member
    assert emails(world.tenant_admin)[world.member.username] == "member@apollo.test"
    assert emails(world.finance)[world.member.username] == "member@apollo.test"
    assert emails(world.platform_admin)[other_world.member.username] == "zed@zephyr.test"
    # Another tenant's admin sees neither the user nor, through a shared user, the address.
    Membership.objects.create(tenant=other_world.tenant, user=world.member, role="member")
    assert emails(other_world.tenant_admin)[world.member.username] == "member@apollo.test"
    assert emails(other_world.member)[world.member.username] == ""
    assert emails(world.tenant_admin).get(other_world.member.username) is None
    detail = as_user(world.approver).get(f"/api/v1/users/{world.member.pk}/").json()
    assert detail["email"] == ""


def test_tenant_page_shows_the_new_invitations_link_once(
    world, client, django_capture_on_commit_callbacks, settings
):
    # No mail server: the admin sends the link themself.
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    client.force_login(world.tenant_admin)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/tenant/", {"do": "invite", "email": "erin@example.org", "role": "member"}, follow=True
        ).content.decode()
    link = re.search(r'id="invitation-link-text"[^>]*>([^<]+)<', page)
    assert link, page
    erin = UserFactory(username="erin", email="erin@example.org")
    # The link the page showed is the real one (only its hash is stored).
    assert (
        as_user(erin)
        .post("/api/v1/invitations/accept/", {"token": secret_of(link.group(1))})
        .status_code
        == 201
    )
    # Shown once: the next visit of the page no longer has it, nor does the session.
    again = client.get("/tenant/").content.decode()
    assert "invitation-link" not in again and secret_of(link.group(1)) not in again
    assert not any("invitation" in key for key in client.session.keys())


def test_tenant_page_shows_fellow_members_addresses_only_to_admins(world, client):
    for user in (world.member, world.approver, world.tenant_admin):
        user.email = f"{user.username}@apollo.test"
        user.save()
    client.force_login(world.member)
    page = client.get("/tenant/").content.decode()
    assert 'data-member="apollo-approver"' in page
    assert "apollo-approver@apollo.test" not in page
    assert "apollo-tenant_admin@apollo.test" not in page
    for viewer in (world.tenant_admin, world.platform_admin, world.finance):
        client.force_login(viewer)
        client.post("/tenant/switch/", {"tenant": world.tenant.pk})
        page = client.get("/tenant/").content.decode()
        assert "apollo-approver@apollo.test" in page, viewer
        assert "apollo-member@apollo.test" in page, viewer
