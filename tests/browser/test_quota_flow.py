"""A member runs into the quota, asks for more, a platform admin grants part, the limit grows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from quotas.models import Quota, QuotaRequest
from tests.browser.conftest import shot
from tests.factories import FlavorFactory, HostFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_quota_increase_partly_approved_in_the_browser(login, world, image):
    HostFactory()
    FlavorFactory(name="quad", vcpus=4, ram_mib=1024, disk_gib=5)
    Quota.objects.filter(environment=world.production).update(vcpus_limit=2)

    alice = login(world.member)
    # The request form says before submitting that the flavor would not fit.
    alice.goto("/vms/new/")
    alice.get_by_label("Environment").select_option(label="Apollo / production (approval required)")
    alice.locator("#id_flavor").select_option(index=1)
    note = alice.locator("#quota-fit-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("vCPUs asked 4, 2 left of 2")
    shot(alice, "quota-request-form")

    alice.get_by_role("link", name="Quotas", exact=True).click()
    production = alice.locator('section.quota-env[data-environment="production"]')
    expect(production.locator('[data-resource="vcpus"] [data-figures]')).to_have_text(
        "0 used · 0 reserved · limit 2"
    )
    alice.get_by_label("Environment").select_option(label="Apollo / production")
    alice.get_by_label("vCPUs (optional)").fill("8")
    alice.get_by_label("Why").fill("A load test needs two quad-core VMs.")
    alice.get_by_role("button", name="Send quota request").click()
    expect(alice.get_by_text("Quota request sent to the platform admins.")).to_be_visible()
    expect(alice.locator("#quota-history td[data-status]").first).to_have_text("Pending")

    admin = login(world.platform_admin)
    admin.goto("/quotas/")
    qr = QuotaRequest.objects.get()
    row = admin.locator(f'#queue-title ~ table tr[data-request="{qr.pk}"]')
    row.get_by_label("vCPUs (asked 8)").fill("4")
    row.get_by_label("Reason (required to reject)").fill("Half now, more next quarter.")
    row.get_by_role("button", name="Approve").click()
    expect(admin.get_by_text(f"Request #{qr.pk}: Partially approved.")).to_be_visible()
    shot(admin, "quota-admin-after-approval")

    alice.reload()
    expect(production.locator('[data-resource="vcpus"] [data-figures]')).to_have_text(
        "0 used · 0 reserved · limit 6"
    )
    history = alice.locator(f'#quota-history tr[data-request="{qr.pk}"]')
    expect(history.locator("td[data-status]")).to_have_text("Partially approved")
    expect(history).to_contain_text("Half now, more next quarter.")
    shot(alice, "quota-member-after-approval")
    # And the quad flavor now fits on the request form.
    alice.goto("/vms/new/")
    alice.get_by_label("Environment").select_option(label="Apollo / production (approval required)")
    alice.locator("#id_flavor").select_option(index=1)
    expect(alice.locator("#quota-fit-note")).to_be_hidden()
