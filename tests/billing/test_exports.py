"""Downloads of invoices and usage reports: CSV (streamed), XLSX and PDF parse back to the same
totals, are byte-identical when nothing changed, and another tenant's invoice is a 404."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from billing import invoicing
from billing.choices import UsageKind
from billing.exports import Column, Table, csv_chunks, pdf_bytes, xlsx_bytes
from billing.ledger import usage_event_record
from billing.models import Invoice
from tests.billing.test_invoices import OCT_1, draft, vm_running

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body(response) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return response.content


def csv_total(data: bytes) -> tuple[list[list[str]], Decimal]:
    """The rows up to the total row (an invoice's VAT rows after it left out), and the total."""
    rows = list(csv.reader(io.StringIO(data.decode())))
    end = next(i for i, row in enumerate(rows) if row[0].startswith("Total ("))
    return rows[: end + 1], Decimal(rows[end][-1])


def xlsx_total(data: bytes) -> Decimal:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    last = next(r for r in sheet.iter_rows(values_only=True) if r and str(r[0]).startswith("Total"))
    return Decimal(str(next(v for v in reversed(last) if v not in (None, "")))).quantize(
        Decimal("0.01")
    )


def pdf_text(data: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


@pytest.fixture
def invoiced(world, prices):
    """apollo, October 2025: two VMs, one stopped after 10 days; the draft issued."""
    first = vm_running(world.development, start=OCT_1, name="web")
    usage_event_record(vm=first, kind=UsageKind.STOPPED, at=OCT_1 + timedelta(days=10), cause="t")
    vm_running(world.production, start=OCT_1 + timedelta(hours=5), name="db", vcpus=4)
    return invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))


@pytest.fixture
def prices(db):
    from tests.billing.conftest import price_list

    return price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")


def test_invoice_downloads_parse_back_to_its_total(world, invoiced):
    finance = client_for(world.finance)
    url = f"/api/v1/invoices/{invoiced.pk}/"
    got = {fmt: finance.get(url, {"format": fmt}) for fmt in ("csv", "xlsx", "pdf")}
    for fmt, response in got.items():
        assert response.status_code == 200, (fmt, response.content[:200])
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="nuage-invoice-{invoiced.number}.{fmt}"'
        )
    assert isinstance(got["csv"], StreamingHttpResponse)
    assert got["csv"]["Content-Type"].startswith("text/csv")

    rows, total = csv_total(body(got["csv"]))
    assert rows[0][0] == "Description" and len(rows) == 2 + invoiced.lines.count()
    assert total == invoiced.total
    assert sum(Decimal(r[-1]) for r in rows[1:-1]) == invoiced.total
    assert xlsx_total(body(got["xlsx"])) == invoiced.total
    text = pdf_text(body(got["pdf"]))
    assert invoiced.number in text and "Apollo" in text
    assert f"Net total (EUR) {invoiced.total}" in " ".join(text.split())


def test_redrafting_gives_byte_identical_downloads(world, prices):
    vm_running(world.development, start=OCT_1)
    finance = client_for(world.finance)

    def downloads():
        invoice = draft(world)
        return {
            fmt: body(finance.get(f"/api/v1/invoices/{invoice.pk}/", {"format": fmt}))
            for fmt in ("csv", "xlsx", "pdf")
        }

    first = downloads()
    Invoice.objects.all().delete()  # a draft: gone, and built again from scratch
    second = downloads()
    for fmt in first:
        assert first[fmt] == second[fmt], fmt


def test_credit_note_downloads_show_the_reversed_total(world, invoiced):
    note, _draft = invoicing.invoice_credit(credited_by=world.finance, invoice=invoiced)
    response = client_for(world.finance).get(f"/api/v1/invoices/{note.pk}/", {"format": "csv"})
    assert f"nuage-credit-note-{note.number}.csv" in response["Content-Disposition"]
    assert csv_total(body(response))[1] == -invoiced.total


def test_another_tenants_invoice_download_is_404(world, other_world, invoiced):
    for user in (other_world.tenant_admin, world.member):
        for fmt in ("csv", "xlsx", "pdf"):
            answer = client_for(user).get(f"/api/v1/invoices/{invoiced.pk}/", {"format": fmt})
            assert answer.status_code == 404
            assert answer["Content-Type"] == "application/json"
    own = client_for(world.tenant_admin).get(f"/api/v1/invoices/{invoiced.pk}/", {"format": "pdf"})
    assert own.status_code == 200


def test_usage_download_matches_the_json_report(world, other_world, invoiced):
    vm_running(other_world.development, start=OCT_1, name="theirs")
    finance = client_for(world.finance)
    period = {"start": "2025-10-01", "end": "2025-11-01"}
    for tenant, expected_name in (("apollo", "apollo"), (None, "all")):
        params = {**period, **({"tenant": tenant} if tenant else {})}
        report = finance.get("/api/v1/usage/", params).json()
        response = finance.get("/api/v1/usage/", {**params, "format": "csv"})
        assert isinstance(response, StreamingHttpResponse)
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="nuage-usage-{expected_name}-2025-10.csv"'
        )
        rows, total = csv_total(body(response))
        assert total == Decimal(report["total"])
        assert len(rows) - 2 == len(report["lines"])
        assert [r[1] for r in rows[1:-1]] == [ln["vm_name"] for ln in report["lines"]]
        xlsx = finance.get("/api/v1/usage/", {**params, "format": "xlsx"})
        assert xlsx_total(body(xlsx)) == Decimal(report["total"])
        pdf = finance.get("/api/v1/usage/", {**params, "format": "pdf"})
        assert report["total"] in pdf_text(body(pdf))
    # The month's usage of apollo is what its invoice charges.
    assert Decimal(
        finance.get("/api/v1/usage/", {**period, "tenant": "apollo"}).json()["total"]
    ) == (invoiced.total)


def test_usage_download_of_any_period_is_named_by_its_dates(world, invoiced):
    response = client_for(world.tenant_admin).get(
        "/api/v1/usage/",
        {"start": "2025-10-03T12:00Z", "end": "2025-10-05", "format": "xlsx"},
    )
    assert response.status_code == 200
    assert "nuage-usage-all-20251003T1200-20251005T0000.xlsx" in response["Content-Disposition"]


def test_usage_download_errors_are_json(world):
    answer = client_for(world.finance).get("/api/v1/usage/", {"tenant": "nobody", "format": "csv"})
    assert answer.status_code == 400 and answer.json()["tenant"]


def test_writers_are_generic_over_a_table():
    def table() -> Table:
        return Table(
            title="Anything",
            columns=[Column("Name"), Column("Count", "number"), Column("Amount", "money")],
            rows=iter([["a", 1, Decimal("1.10")], ["b, with comma", 2, Decimal("-0.05")]]),
            money_column=2,
            total_label="Total",
            facts=[("Kind", "test")],
        )

    data = b"".join(csv_chunks(table()))
    assert data == b'Name,Count,Amount\r\na,1,1.10\r\n"b, with comma",2,-0.05\r\nTotal,,1.05\r\n'
    assert xlsx_bytes(table()) == xlsx_bytes(table())
    assert xlsx_total(xlsx_bytes(table())) == Decimal("1.05")
    assert pdf_bytes(table()) == pdf_bytes(table())
    assert "1.05" in pdf_text(pdf_bytes(table()))


def test_csv_is_streamed_in_chunks_not_built_whole():
    rows_made = []

    def rows():
        for i in range(50_000):
            rows_made.append(i)
            yield [f"row {i}", i, Decimal("0.01")]

    chunks = csv_chunks(
        Table(
            title="big",
            columns=[Column("Name"), Column("N", "number"), Column("Amount", "money")],
            rows=rows(),
            money_column=2,
            total_label="Total",
        )
    )
    first = next(chunks)
    assert 64 * 1024 <= len(first) < 128 * 1024
    assert len(rows_made) < 10_000  # only what the first chunk needed was read
    rest = b"".join(chunks)
    assert rest.endswith(b"Total,,500.00\r\n")


def test_pages_download_invoices_and_a_month_of_usage(client, world, invoiced):
    client.force_login(world.finance)
    xlsx = client.get(f"/finance/invoices/{invoiced.pk}/download.xlsx")
    assert f"nuage-invoice-{invoiced.number}.xlsx" in xlsx["Content-Disposition"]
    assert xlsx_total(xlsx.content) == invoiced.total
    usage = client.get(
        "/finance/invoices/usage/",
        {"tenant": world.tenant.pk, "year": 2025, "month": 10, "format": "csv"},
    )
    assert 'filename="nuage-usage-apollo-2025-10.csv"' in usage["Content-Disposition"]
    assert csv_total(body(usage))[1] == invoiced.total
    assert client.get(f"/finance/invoices/{invoiced.pk}/download.doc").status_code == 404


def test_the_invoice_register_exports_every_tenants_invoices_of_a_month(
    world, other_world, invoiced
):
    """Finance downloads the month's invoices of all tenants; a tenant admin only their own."""
    vm_running(other_world.development, start=OCT_1, name="other")
    other = draft(other_world)  # a draft beside the issued one
    note, _draft = invoicing.invoice_credit(credited_by=world.finance, invoice=invoiced)
    finance = client_for(world.finance)
    got = {
        fmt: finance.get("/api/v1/invoices/", {"format": fmt, "year": 2025, "month": 10})
        for fmt in ("csv", "xlsx", "pdf")
    }
    assert all(r.status_code == 200 for r in got.values())
    assert got["csv"]["Content-Disposition"] == 'attachment; filename="nuage-invoices.csv"'
    rows, total = csv_total(body(got["csv"]))
    assert rows[0][:2] == ["Number", "Kind"] and len(rows) == 2 + 3
    by_number = {r[0]: r for r in rows[1:-1]}
    assert set(by_number) == {invoiced.number, note.number, "(draft)"}
    assert Decimal(by_number[note.number][-1]) == -invoiced.total
    assert Decimal(by_number["(draft)"][-1]) == other.total
    assert by_number["(draft)"][-2] == str(other.line_count) and other.line_count > 0
    assert total == other.total  # the invoice and its credit note cancel out
    assert xlsx_total(body(got["xlsx"])) == total
    assert invoiced.number in pdf_text(body(got["pdf"]))
    # A tenant admin's register holds their tenant's invoices only.
    own = client_for(other_world.tenant_admin).get("/api/v1/invoices/", {"format": "csv"})
    rows, total = csv_total(body(own))
    assert [r[3] for r in rows[1:-1]] == [other_world.tenant.name] and total == other.total


def test_the_invoice_list_page_downloads_what_it_filters(client, world, other_world, invoiced):
    vm_running(other_world.development, start=OCT_1, name="other")
    draft(other_world)
    client.force_login(world.finance)
    page = client.get("/finance/invoices/", {"tenant": "", "status": "issued"})
    assert b'href="/finance/invoices/download.xlsx?tenant=&amp;status=issued"' in page.content
    response = client.get("/finance/invoices/download.csv", {"tenant": "", "status": "issued"})
    rows, total = csv_total(body(response))
    assert [r[0] for r in rows[1:-1]] == [invoiced.number] and total == invoiced.total
    bad = client.get("/finance/invoices/download.csv", {"month": "13"})
    assert bad.status_code == 302
    assert client.get("/finance/invoices/download.doc").status_code == 404
