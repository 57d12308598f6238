"""A tenant's billing details: finance and platform admins keep them (page and API), with
field messages for bad input; tenant admins read them; members do not see them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.models import AuditEntry, Tenant

pytestmark = pytest.mark.django_db

GOOD = {
    "billing_legal_name": "Apollo Research SAS",
    "billing_address": "  12 rue de la Paix \n\n 75002 Paris ",
    "billing_country": "fr",
    "vat_number": "fr 40 303.265-045",
    "billing_email": "ap@apollo.example",
    "cost_centre": "CC-4410 Research",
    "vat_rate": "20",
}


def test_finance_sets_billing_details_through_the_api_normalised_and_audited(world, api):
    api.force_authenticate(world.finance)
    answer = api.patch(f"/api/v1/tenants/{world.tenant.pk}/billing/", GOOD, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["vat_number"] == "FR40303265045"
    tenant = Tenant.objects.unscoped().get(pk=world.tenant.pk)
    assert tenant.billing_country == "FR"
    assert tenant.billing_address == "12 rue de la Paix\n75002 Paris"
    assert tenant.vat_rate == Decimal("20.00")
    assert tenant.cost_centre == "CC-4410 Research"
    entry = AuditEntry.objects.get(action="tenant.billing_update")
    assert entry.changes["vat_number"] == ["", "FR40303265045"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("billing_country", "XX", "ISO 3166"),
        ("vat_number", "DE123456789", "starts with FR"),
        ("vat_number", "40303265045", "country prefix"),
        ("billing_email", "not-an-address", "valid email"),
        ("vat_rate", "-1", "cannot be negative"),
        ("vat_rate", "120", "at most 100"),
        ("cost_centre", "a\nb", "one line"),
    ],
)
def test_bad_billing_details_answer_400_with_the_fields_message(world, api, field, value, message):
    api.force_authenticate(world.platform_admin)
    data = {"billing_country": "FR", field: value}
    answer = api.patch(f"/api/v1/tenants/{world.tenant.pk}/billing/", data, format="json")
    assert answer.status_code == 400
    assert message in " ".join(answer.json()[field])
    assert Tenant.objects.unscoped().get(pk=world.tenant.pk).billing_country == ""


def test_tenant_admin_reads_billing_details_but_cannot_change_them(world, api):
    api.force_authenticate(world.tenant_admin)
    url = f"/api/v1/tenants/{world.tenant.pk}/billing/"
    assert api.get(url).status_code == 200
    assert api.patch(url, {"cost_centre": "X"}, format="json").status_code == 403
    api.force_authenticate(world.member)
    assert api.get(url).status_code == 403


def test_other_tenants_billing_is_not_found(world, other_world, api):
    api.force_authenticate(world.tenant_admin)
    assert api.get(f"/api/v1/tenants/{other_world.tenant.pk}/billing/").status_code == 404


def test_finance_edits_billing_details_on_the_page_with_field_errors(world, client):
    client.force_login(world.finance)
    client.post("/tenant/switch/", {"tenant": world.tenant.pk})
    page = client.get("/tenant/billing/")
    assert page.status_code == 200
    bad = client.post("/tenant/billing/", {**GOOD, "vat_number": "DE123456789"})
    assert bad.status_code == 400
    assert 'data-error-for="vat_number"' in bad.content.decode()
    done = client.post("/tenant/billing/", {**GOOD, "billing_country": "FR"}, follow=True)
    text = done.content.decode()
    assert "Billing details saved." in text and "FR40303265045" in text


def test_tenant_admin_sees_billing_card_without_edit_link(world, client):
    client.force_login(world.tenant_admin)
    page = client.get("/tenant/").content.decode()
    assert 'id="billing-details"' in page and 'data-action="edit-billing"' not in page
    assert client.get("/tenant/billing/").status_code == 404  # as a missing page
    client.force_login(world.member)
    assert 'id="billing-details"' not in client.get("/tenant/").content.decode()
