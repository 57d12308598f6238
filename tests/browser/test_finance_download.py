"""A finance user opens the invoices page, drafts a tenant's month, issues it and downloads the
XLSX; the file opens with openpyxl and its total is the invoice's."""

from __future__ import annotations

import io
import subprocess
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
    # Finance first gives the tenant its billing details (the customer block of the invoice).
    with page.expect_navigation():
        page.get_by_label("Current tenant").select_option(label="Apollo")
    page.goto("/tenant/")
    page.locator('[data-action="edit-billing"]').click()
    page.get_by_label("Legal name").fill("Apollo Research SAS")
    page.get_by_label("Billing address").fill("12 rue de la Paix\n75002 Paris")
    page.get_by_label("Country").select_option("FR")
    page.get_by_label("VAT number").fill("DE 123")
    page.get_by_label("VAT rate (%)").fill("20")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.locator('[data-error-for="vat_number"]')).to_contain_text("starts with FR")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"tenant-billing-error-{width}")
    page.set_viewport_size({"width": 1200, "height": 800})
    page.get_by_label("VAT number").fill("FR 40 303 265 045")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.get_by_text("Billing details saved.")).to_be_visible()
    expect(page.locator("#billing-details")).to_contain_text("FR40303265045")

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
    expect(page.locator("#invoice-vat")).to_have_text("4.42 EUR")
    expect(page.locator("#invoice-gross")).to_have_text("26.50 EUR")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"invoice-issued-{width}")
    page.set_viewport_size({"width": 1200, "height": 800})

    with page.expect_download() as started:
        page.locator('a[data-format="pdf"]').click()
    pdf = open(started.value.path(), "rb").read()
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    assert "Apollo Research SAS" in text and "VAT number: FR40303265045" in text
    assert "Total with VAT (EUR) 26.50" in text

    with page.expect_download() as started:
        page.locator('a[data-format="xlsx"]').click()
    download = started.value
    assert download.suggested_filename == f"nuage-invoice-{invoice.number}.xlsx"
    sheet = load_workbook(io.BytesIO(open(download.path(), "rb").read()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[-3:]] == [
        "Total (EUR)",
        "VAT 20.00 % (EUR)",
        "Total with VAT (EUR)",
    ]
    assert [Decimal(str(r[-1])).quantize(Decimal("0.01")) for r in rows[-3:]] == [
        Decimal("22.08"),
        Decimal("4.42"),
        Decimal("26.50"),
    ]
    assert rows[0][0] == f"Invoice {invoice.number}"
    assert ("Tenant", "Apollo") in [tuple(r[:2]) for r in rows if len(r) >= 2]
