"""The demo's money side: after seed_demo, seed_demo_billing gives a price list, a budget, a
month of usage history and last month's invoice, so Costs, Finance and Invoices show figures
at once; seeding again adds nothing."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from billing.choices import InvoiceStatus
from billing.models import Budget, Invoice, PriceList, UsageEvent
from portal.models import User

pytestmark = pytest.mark.django_db


def test_demo_billing_seed_gives_figures_and_is_idempotent(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo_billing", stdout=out)
    assert "Price list 'Standard' (EUR)" in out.getvalue()
    events = UsageEvent.objects.count()
    assert events > 0 and PriceList.objects.count() == 1
    assert Budget.objects.get(tenant__slug="apollo").amount > 0
    invoice = Invoice.objects.get(tenant__slug="apollo")
    assert invoice.status == InvoiceStatus.ISSUED and invoice.total > 0 and invoice.number
    assert f"last month invoiced as {invoice.number}" in out.getvalue()

    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_billing", stdout=io.StringIO())
    assert UsageEvent.objects.count() == events
    assert PriceList.objects.count() == 1 and Invoice.objects.count() == 1

    alice = Client()
    alice.force_login(User.objects.get(username="alice"))
    costs = alice.get("/costs/").content.decode()
    month = re.search(r'data-cost="month"[^>]*>([^<]+)<', costs)
    assert month is not None and re.search(r"[1-9]", month.group(1)), month
    carol = Client()
    carol.force_login(User.objects.get(username="carol"))
    assert invoice.number in carol.get("/finance/invoices/").content.decode()
    finance = carol.get("/finance/").content.decode()
    assert "Apollo" in finance
