"""A tenant admin invites someone on a site that sends no mail: she copies the link the page
shows once; only the invited address can accept it; plain members see no one's address."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.models import Membership
from tests.browser.conftest import shot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_copies_the_invitation_link_and_only_the_invitee_joins(login, world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    world.member.email = "alice@apollo.test"
    world.member.save()
    admin = login(world.tenant_admin)
    admin.get_by_role("link", name="Tenant").first.click()
    admin.locator("#invite-member").get_by_label("E-mail").fill("Erin@Example.org")
    admin.locator("#invite-member").get_by_label("Role").select_option(label="Approver")
    admin.get_by_role("button", name="Invite").click()

    link = admin.locator("#invitation-link-text")
    expect(link).to_contain_text("/invitations/")
    admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
    admin.locator("#invitation-link").get_by_role("button", name="Copy").click()
    expect(admin.locator("#invitation-link").get_by_role("button", name="Copied")).to_be_visible()
    copied = admin.evaluate("navigator.clipboard.readText()")
    assert copied == link.inner_text().strip()
    # The admin sees members' addresses.
    expect(admin.locator("tr[data-member='apollo-member']")).to_contain_text("alice@apollo.test")
    shot(admin, "tenant-invitation-link")
    admin.reload()
    expect(admin.locator("#invitation-link")).to_have_count(0)  # shown once
    expect(admin.locator("tr[data-invitation='Erin@Example.org']")).to_be_visible()

    path = urlsplit(copied).path
    mallory = login(UserFactory(username="mallory", email="mallory@example.org"))
    mallory.goto(path)
    expect(mallory.locator("#invitation-mismatch")).to_contain_text("mallory@example.org")
    expect(mallory.get_by_role("button", name="Accept the invitation")).to_have_count(0)
    shot(mallory, "invitation-for-someone-else")

    erin = login(UserFactory(username="erin", email="erin@example.org"))
    erin.goto(path)
    erin.get_by_role("button", name="Accept the invitation").click()
    expect(erin.get_by_role("status")).to_contain_text("you are now Approver")
    assert Membership.objects.get(user__username="erin").role == "approver"
    assert not Membership.objects.filter(user__username="mallory").exists()

    # A plain member's tenant page has no e-mail column.
    alice = login(world.member)
    alice.get_by_role("link", name="Tenant").first.click()
    expect(alice.locator("tr[data-member='erin']")).to_be_visible()
    expect(alice.locator("#members")).not_to_contain_text("@")
    shot(alice, "tenant-as-member")
