"""A finance user opens the invoices page, drafts a tenant's month, issues it and downloads the
XLSX; the file opens with openpyxl and its total is the invoice's."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from billing.choices import UsageKind
from billing.ledger import usage_event_record
from billing.models import Invoice
from tests.billing.conftest import price_list
from tests.billing.test_invoices import OCT_1, vm_running
from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_downloads_a_months_invoice_as_xlsx(login, world):
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")
    vm = vm_running(world.development, start=OCT_1)
    usage_event_record(vm=vm, kind=UsageKind.STOPPED, at=OCT_1 + timedelta(hours=240), cause="t")

    page = login(world.finance)
    page.get_by_role("link", name="Invoices", exact=True).click()
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
    draft = page.locator("#draft-form")
    draft.get_by_label("Tenant").select_option(label="Apollo")
    draft.get_by_label("Year").fill("2025")
    draft.get_by_label("Month").fill("10")
    draft.get_by_role("button", name="Build the draft").click()
    expect(page.get_by_text("Draft built from the usage ledger.")).to_be_visible()
    expect(page.locator("#invoice-total")).to_have_text("22.08 EUR")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#issue").click()
    invoice = Invoice.objects.get(tenant=world.tenant)
    expect(page.get_by_text(f"Invoice issued as {invoice.number}.")).to_be_visible()
    shot(page, "invoice-issued")

    with page.expect_download() as started:
        page.locator('a[data-format="xlsx"]').click()
    download = started.value
    assert download.suggested_filename == f"nuage-invoice-{invoice.number}.xlsx"
    sheet = load_workbook(io.BytesIO(open(download.path(), "rb").read()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[-1][0] == "Total (EUR)"
    assert Decimal(str(rows[-1][-1])).quantize(Decimal("0.01")) == Decimal("22.08")
    assert rows[0][0] == f"Invoice {invoice.number}"
    assert ("Tenant", "Apollo") in [tuple(r[:2]) for r in rows if len(r) >= 2]
