"""A tenant admin reads the month's costs, sets a budget (an error first); finance reads all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Budget
from tests.billing.conftest import price_list, run
from tests.browser.conftest import shot
from tests.factories import FlavorFactory, VirtualMachineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_costs_budget_and_finance_pages_in_the_browser(login, world, monkeypatch):
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if now - month_start < timedelta(hours=3):  # keep some usage in "this month"
        monkeypatch.setattr(timezone, "now", lambda: month_start + timedelta(days=9))
        now = month_start + timedelta(days=9)
    price_list(datetime(2020, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    flavor = FlavorFactory(name="m2", vcpus=2, ram_mib=2048, disk_gib=20)
    web = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, name="web"
    )
    run(web, month_start - timedelta(days=2))

    admin = login(world.tenant_admin)
    admin.get_by_role("link", name="Costs", exact=True).click()
    expect(admin.locator('[data-cost="month"]')).to_contain_text("EUR")
    expect(admin.locator("svg.chart")).to_be_visible()
    admin.get_by_label("Monthly budget (EUR)").fill("-20")
    admin.get_by_role("button", name="Save budget").click()
    expect(admin.locator('[data-error-for="amount"]')).to_have_text("A budget cannot be negative.")
    admin.get_by_label("Monthly budget (EUR)").fill("150")
    admin.get_by_label("Refuse new VM requests once the month's cost reaches the budget").check()
    admin.get_by_role("button", name="Save budget").click()
    expect(admin.get_by_text("Budget saved.")).to_be_visible()
    expect(admin.locator("[data-budget-state]")).to_contain_text("150.00 EUR")
    assert Budget.objects.get().block_requests
    shot(admin, "costs")
    admin.goto(f"/vms/{web.pk}/")
    expect(admin.locator('[data-cost="vm-month"]')).to_contain_text("EUR")
    shot(admin, "vm-cost")

    finance = login(world.finance)
    finance.get_by_role("link", name="Finance", exact=True).click()
    expect(finance.locator("svg.chart")).to_have_count(2)
    expect(finance.locator('tr[data-vm="web"]')).to_be_visible()
    expect(finance.locator("[data-download]")).to_have_count(3)
    shot(finance, "finance")
