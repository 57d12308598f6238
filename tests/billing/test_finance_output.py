"""Finance-grade output: VAT to the cent, gapless numbers in two series, empty drafts that take
no number, credit notes that point at what they correct, and documents people can read (the
PDFs read back with pdftotext, the workbooks with openpyxl).

Set NUAGE_TEST_ARTIFACTS=/some/dir to keep the rendered PDFs (and PNGs of their first and
last pages) for a look."""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, connections
from openpyxl import load_workbook
from rest_framework.test import APIClient

from billing import exports, invoicing
from billing.choices import UsageKind
from billing.exports import Column, Table, pdf_bytes, xlsx_bytes
from billing.invoicing.vat import vat_of, vat_split
from billing.ledger import usage_event_record
from billing.models import NumberSequence
from portal.errors import ConflictError
from portal.models import Tenant
from tests.billing.conftest import price_list
from tests.billing.test_invoices import OCT_1, draft, vm_running

D = Decimal


def pdf_pages(data: bytes) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    return [page for page in text.split("\f") if page.strip()]


def keep(name: str, data: bytes) -> None:
    """With NUAGE_TEST_ARTIFACTS set: the file, and PNGs of its pages (pdftoppm)."""
    where = os.environ.get("NUAGE_TEST_ARTIFACTS")
    if not where:
        return
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    if name.endswith(".pdf"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", str(path), str(path.with_suffix(""))], check=True
        )


# --- amounts ------------------------------------------------------------------------------------


def test_vat_is_rounded_half_up_to_the_cent_once_on_the_total():
    assert vat_of(D("10.10"), D("20")) == D("2.02")
    assert vat_of(D("0.25"), D("10")) == D("0.03")  # 0.025: half up, not to even
    assert vat_of(D("-0.25"), D("10")) == D("-0.03")  # a credit note mirrors it
    assert vat_of(D("6.33"), D("5.5")) == D("0.35")  # 0.34815
    assert vat_of(D("100.00"), D("0")) == D("0.00")


def test_line_vat_adds_up_to_the_total_vat_exactly():
    # Three lines of 0.03 at 20 %: 0.006 each, 0.018 in all -> 0.02, not 3 x 0.01.
    assert vat_split([D("0.03")] * 3, D("20")) == [D("0.01"), D("0.01"), D("0.00")]
    assert vat_split([D("-0.03")] * 3, D("20")) == [D("-0.01"), D("-0.01"), D("0.00")]
    # 0.055 + 0.11 + 0.18315 = 0.34815 -> 0.35: the cent left goes to the largest remainder.
    assert vat_split([D("1.00"), D("2.00"), D("3.33")], D("5.5")) == [
        D("0.06"),
        D("0.11"),
        D("0.18"),
    ]
    assert vat_split([D("10.00"), D("0.05"), D("0.05")], D("20")) == [
        D("2.00"),
        D("0.01"),
        D("0.01"),
    ]
    assert vat_split([], D("20")) == []


@pytest.fixture
def october(world, monkeypatch, settings):
    """apollo, October 2025 at 0.01 / 0.005 / 0.001: one VM of 2 vCPU, 2 GiB, 20 GiB running
    240 h and its disk kept all month; the tenant's billing details; the issuer configured."""
    monkeypatch.setitem(
        settings.NUAGE,
        "ISSUER",
        {
            "name": "Nuage Cloud Services SAS",
            "address": "8 avenue des Nuages|69002 Lyon",
            "country": "FR",
            "vat_number": "FR12345678901",
            "registration": "RCS Lyon 123 456 789",
            "email": "billing@nuage.example",
            "bank": "IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP",
        },
    )
    Tenant.objects.unscoped().filter(pk=world.tenant.pk).update(
        billing_legal_name="Apollo Research SAS",
        billing_address="12 rue de la Paix\n75002 Paris",
        billing_country="FR",
        vat_number="FR40303265045",
        billing_email="ap@apollo.example",
        cost_centre="CC-4410",
        vat_rate=D("20.00"),
    )
    world.tenant.refresh_from_db()
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")
    vm = vm_running(world.development, start=OCT_1)
    usage_event_record(vm=vm, kind=UsageKind.STOPPED, at=OCT_1 + timedelta(hours=240), cause="t")
    return world


def test_an_issued_invoice_carries_vat_per_line_and_in_total(october):
    world = october
    invoice = draft(world)
    # 4.80 (cpu) + 2.40 (ram) + 14.88 (disk, 744 h x 20 GiB x 0.001) = 22.08; 20 % = 4.416
    assert (invoice.total, invoice.vat_rate, invoice.vat_amount) == (
        D("22.08"),
        D("20.00"),
        D("4.42"),
    )
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    assert issued.total_with_vat == D("26.50")
    lines = invoicing.invoice_lines(issued)
    shares = dict(
        zip(
            [ln.resource for ln in lines],
            vat_split([ln.amount for ln in lines], D("20")),
            strict=True,
        )
    )
    # exact 0.96, 0.48, 2.976: truncated 4.41, the cent left to the disk's 0.006
    assert shares == {"cpu": D("0.96"), "ram": D("0.48"), "disk": D("2.98")}
    assert sum(shares.values()) == issued.vat_amount
    # Issue and due dates, and both parties as they were at issue.
    assert issued.due_date == issued.issued_at.astimezone(world.tenant.zone).date() + timedelta(
        days=30
    )
    assert issued.customer["vat_number"] == "FR40303265045"
    assert issued.issuer["name"] == "Nuage Cloud Services SAS"
    Tenant.objects.unscoped().filter(pk=world.tenant.pk).update(billing_legal_name="Renamed")
    issued.refresh_from_db()
    assert issued.customer["name"] == "Apollo Research SAS"


def test_a_vat_rate_changed_after_drafting_refuses_the_issue(october):
    world = october
    invoice = draft(world)
    Tenant.objects.unscoped().filter(pk=world.tenant.pk).update(vat_rate=D("0"))
    with pytest.raises(ConflictError, match="VAT rate"):
        invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    rebuilt = draft(world)
    assert rebuilt.vat_amount == D("0.00")
    assert invoicing.invoice_issue(issued_by=world.finance, invoice=rebuilt).number


# --- numbering ----------------------------------------------------------------------------------


def test_an_empty_draft_is_not_issued_and_takes_no_number(world, client):
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")
    empty = draft(world, 2025, 9)
    assert empty.line_count == 0
    with pytest.raises(invoicing.EmptyInvoiceError):
        invoicing.invoice_issue(issued_by=world.finance, invoice=empty)
    assert not NumberSequence.objects.exists()
    client.force_login(world.finance)
    page = client.get(f"/finance/invoices/{empty.pk}/").content.decode()
    assert 'id="draft-empty"' in page and 'id="issue"' not in page
    answer = client.post(f"/finance/invoices/{empty.pk}/issue/", follow=True).content.decode()
    assert "takes no invoice number" in answer
    empty.refresh_from_db()
    assert empty.number is None
    vm_running(world.development, start=OCT_1)
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    assert issued.number.endswith("-000001")  # the empty draft did not use a number


def test_credit_notes_have_their_own_gapless_series_and_link_to_the_invoice(october):
    world = october
    first = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    note, redraft = invoicing.invoice_credit(credited_by=world.finance, invoice=first, redraft=True)
    second = invoicing.invoice_issue(issued_by=world.finance, invoice=redraft)
    note2, _none = invoicing.invoice_credit(credited_by=world.finance, invoice=second)
    year = first.number.split("-")[1]
    assert [first.number, second.number] == [f"NU-{year}-000001", f"NU-{year}-000002"]
    assert [note.number, note2.number] == [f"CN-{year}-000001", f"CN-{year}-000002"]
    assert note.corrects == first and note2.corrects == second
    assert (note.total, note.vat_amount, note.total_with_vat) == (
        D("-22.08"),
        D("-4.42"),
        D("-26.50"),
    )
    assert note.due_date is None
    lines = invoicing.invoice_lines(note)
    assert all(ln.amount < 0 for ln in lines)
    assert sum(vat_split([ln.amount for ln in lines], note.vat_rate)) == D("-4.42")
    api = APIClient()
    api.force_authenticate(world.tenant_admin)
    body = api.get(f"/api/v1/invoices/{note.pk}/").json()
    assert body["corrects"] == first.pk and body["corrects_number"] == first.number
    assert body["vat_amount"] == "-4.42" and body["total_with_vat"] == "-26.50"


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_notes_and_invoices_get_distinct_gapless_numbers():
    """Two transactions at once in each series: no number twice, none skipped."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from tests.conftest import make_world

    worlds = [make_world("race-a"), make_world("race-b")]
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")
    issued = []
    for w in worlds:
        vm_running(w.development, start=datetime(2025, 1, 1, tzinfo=UTC))
        issued.append(invoicing.invoice_issue(issued_by=w.finance, invoice=draft(w, 2025, 1)))
    drafts = [draft(w, 2025, 2) for w in worlds]
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(job) -> None:
        try:
            barrier.wait(timeout=30)
            numbers.append(job())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [
        lambda inv=inv, w=w: invoicing.invoice_credit(credited_by=w.finance, invoice=inv)[0].number
        for inv, w in zip(issued, worlds, strict=True)
    ] + [
        lambda d=d, w=w: invoicing.invoice_issue(issued_by=w.finance, invoice=d).number
        for d, w in zip(drafts, worlds, strict=True)
    ]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    year = numbers[0].split("-")[1]
    assert sorted(numbers) == [
        f"CN-{year}-000001",
        f"CN-{year}-000002",
        f"NU-{year}-000003",
        f"NU-{year}-000004",
    ]


# --- documents ----------------------------------------------------------------------------------


def test_the_invoice_pdf_shows_both_parties_dates_vat_and_totals(october):
    world = october
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    api = APIClient()
    api.force_authenticate(world.finance)
    data = api.get(f"/api/v1/invoices/{invoice.pk}/", {"format": "pdf"}).content
    keep("invoice.pdf", data)
    pages = pdf_pages(data)
    text = " ".join(" ".join(pages).split())
    for expected in (
        "Nuage Cloud Services SAS",
        "8 avenue des Nuages",
        "VAT number: FR12345678901",
        "Apollo Research SAS",
        "12 rue de la Paix",
        "75002 Paris",
        "VAT number: FR40303265045",
        "Cost centre: CC-4410",
        f"Invoice {invoice.number}",
        "Issue date",
        "Due date",
        "1 Oct 2025 to 31 Oct 2025",
        "IBAN FR76",
    ):
        assert expected in text, expected
    last = " ".join(pages[-1].split())
    assert "Net total (EUR) 22.08" in last
    assert "VAT 20.00 % (EUR) 4.42" in last
    assert "Total with VAT (EUR) 26.50" in last
    assert f"Page {len(pages)} of {len(pages)}" in last
    # Each line's VAT is on its line: the disk's 2.98 beside its 14.88.
    assert re.search(r"14\.88\s+20\.00\s+2\.98", pages[0])


def test_a_long_invoice_has_its_totals_and_terms_on_the_last_page_only(october):
    invoice = draft(october)
    one_vm = invoicing.invoice_lines(invoice)
    lines = []
    for n in range(60):  # 180 lines: several pages
        for line in one_vm:
            copy = copy_line(line)
            copy.vm_name = f"batch-worker-{n:03d}"
            lines.append(copy)
    invoice.total = sum((ln.amount for ln in lines), D(0))
    invoice.vat_amount = vat_of(invoice.total, invoice.vat_rate)
    data = exports.invoice_pdf_bytes(invoice, lines)
    keep("invoice-long.pdf", data)
    pages = pdf_pages(data)
    assert len(pages) >= 3
    flat = [" ".join(page.split()) for page in pages]
    assert "Total with VAT (EUR) 1,589.76" in flat[-1]  # 60 x 22.08 = 1,324.80; + 264.96
    assert all("Total with VAT" not in page for page in flat[:-1])
    assert all(page.count("Unit price per hour") == 1 for page in flat)  # header repeated
    assert sum(page.count("batch-worker-") for page in flat) == 180


def copy_line(line):
    from billing.models import InvoiceLine

    return InvoiceLine(**{f.attname: getattr(line, f.attname) for f in InvoiceLine._meta.fields})


def test_a_credit_note_pdf_names_the_invoice_it_cancels(october):
    world = october
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    note, _draft = invoicing.invoice_credit(credited_by=world.finance, invoice=invoice)
    data = exports.invoice_pdf_bytes(note, invoicing.invoice_lines(note))
    keep("credit-note.pdf", data)
    text = " ".join(" ".join(pdf_pages(data)).split())
    assert f"Credit note {note.number}" in text
    assert f"cancels invoice {invoice.number}" in text
    assert "Total with VAT (EUR) -26.50" in text


def test_the_invoice_pdf_speaks_french_with_french_numbers_and_dates(october):
    from django.utils import translation

    world = october
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    with translation.override("fr"):
        data = exports.invoice_pdf_bytes(invoice, invoicing.invoice_lines(invoice))
    keep("invoice-fr.pdf", data)
    text = " ".join(" ".join(pdf_pages(data)).split())
    assert f"Facture {invoice.number}" in text
    assert "Facturé à".upper() in text.upper() and "Date d’échéance" in text
    assert "du 1 oct. 2025 au 31 oct. 2025" in text
    assert "TVA 20,00 % (EUR) 4,42" in text and "Total TTC (EUR) 26,50" in text
    assert "20 Gio" in text and "GiB" not in text


def test_a_draft_pdf_says_it_is_not_an_invoice_yet(october):
    invoice = draft(october)
    text = " ".join(" ".join(pdf_pages(exports.invoice_pdf_bytes(invoice, []))).split())
    assert "Draft: not an invoice yet" in text


LONG_WORDS = [
    "supercalifragilistic-production-database-primary",
    "analytics-warehouse-replica-eu-west-0001",
    "Internationalisation",
]


# Too long for one line beside the rest: it must wrap, between words only.
NOTE = (
    "Reserved for the quarterly reconciliation of the Internationalisation programme, "
    "charged back to the analytics-warehouse-replica-eu-west-0001 cost owners"
)


def _usage_like_table(rows: int) -> Table:
    zone = __import__("zoneinfo").ZoneInfo("Europe/Paris")
    start = datetime(2025, 10, 1, tzinfo=UTC)
    return Table(
        title="Usage",
        columns=[
            Column("Tenant"),
            Column("VM"),
            Column("Note"),
            Column("Environment"),
            Column("Resource"),
            Column("Quantity", "number"),
            Column("From", "datetime"),
            Column("Until", "datetime"),
            Column("Amount", "money"),
        ],
        rows=(
            [
                "Apollo Research and Development Laboratories",
                f"{LONG_WORDS[i % 2]} {i}",
                NOTE,
                "qualification",
                LONG_WORDS[2] + " vCPU",
                D("1234.5"),
                start + timedelta(hours=i),
                start + timedelta(hours=i + 1),
                D("1234.56"),
            ]
            for i in range(rows)
        ),
        money_column=8,
        total_label="Total (EUR)",
        facts=[("From", start), ("Time zone", "Europe/Paris")],
        zone=zone,
    )


def test_the_usage_pdf_never_splits_a_word_and_ends_with_the_totals():
    data = pdf_bytes(_usage_like_table(120))
    keep("usage.pdf", data)
    pages = pdf_pages(data)
    assert len(pages) >= 3
    for page in pages:
        for line in page.splitlines():
            for word in line.split():
                # No fragment of a long word alone: every token is whole (or not one of ours).
                for long_word in LONG_WORDS:
                    if word != long_word and long_word.startswith(word) and len(word) > 3:
                        pytest.fail(f"{long_word!r} broken as {word!r} in {line!r}")
    text = " ".join(" ".join(pages).split())
    assert text.count(LONG_WORDS[0]) == 60
    assert text.count(LONG_WORDS[1]) == 60 + 120  # in the VM names and in every note
    # The note wraps: no line of the PDF holds it whole, yet every word of it is whole.
    assert NOTE not in " ".join(pages)
    words = set(" ".join(pages).split())
    assert set(NOTE.split()) <= words
    # Human dates in the report's zone (Paris: UTC+2 in October), not ISO strings.
    assert "1 Oct 2025, 02:00" in text and "2025-10-01T" not in text
    assert "148,147.20" in " ".join(pages[-1].split())  # 120 x 1,234.56, on the last page
    assert "Total (EUR)" not in " ".join(pages[0].split())
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


def test_xlsx_cells_are_real_dates_and_numbers_with_formats():
    data = xlsx_bytes(_usage_like_table(3))
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows())
    header = next(i for i, r in enumerate(rows) if r[0].value == "Tenant")
    first = rows[header + 1]
    assert isinstance(first[5].value, int | float) and first[5].number_format == "#,##0.00####"
    assert first[6].is_date and first[6].value == datetime(2025, 10, 1, 2, 0)  # Paris time
    assert first[6].number_format == "yyyy-mm-dd hh:mm"
    assert first[8].value == 1234.56 and first[8].number_format == "#,##0.00"
    total = rows[header + 4]
    assert total[0].value == "Total (EUR)" and total[8].value == pytest.approx(3703.68)
    assert total[8].number_format == "#,##0.00"


def test_xlsx_keeps_formulas_defused():
    table = Table(
        title="t",
        columns=[Column("Name"), Column("When", "datetime"), Column("Amount", "money")],
        rows=[['=HYPERLINK("http://x")', date(2025, 1, 2), D("-1.50")]],
        money_column=2,
        total_label="Total",
    )
    sheet = load_workbook(io.BytesIO(xlsx_bytes(table))).active
    row = next(r for r in sheet.iter_rows() if r[0].value and str(r[0].value).startswith("="))
    assert row[0].data_type == "s"
    assert row[1].is_date and row[2].value == -1.5


def test_usage_reports_group_by_cost_centre(october, other_world):
    world = october
    Tenant.objects.unscoped().filter(pk=other_world.tenant.pk).update(cost_centre="CC-1000")
    vm_running(other_world.development, start=OCT_1, name="theirs")
    api = APIClient()
    api.force_authenticate(world.finance)
    period = {"start": "2025-10-01", "end": "2025-11-01", "group_by": "cost_centre"}
    report = api.get("/api/v1/usage/", period).json()
    groups = {g["cost_centre"]: D(g["total"]) for g in report["groups"]}
    assert list(groups) == ["CC-1000", "CC-4410"]
    assert sum(groups.values()) == D(report["total"])
    assert groups["CC-4410"] == D("22.08")
    assert {ln["cost_centre"] for ln in report["lines"]} == {"CC-1000", "CC-4410"}
    csv_text = b"".join(
        api.get("/api/v1/usage/", {**period, "format": "csv"}).streaming_content
    ).decode()
    lines = csv_text.splitlines()
    assert lines[0].startswith("Cost centre,Tenant")
    subtotals = [ln for ln in lines if ln.startswith("Subtotal")]
    assert [s.split(",")[0] for s in subtotals] == ["Subtotal CC-1000", "Subtotal CC-4410"]
    assert subtotals[1].endswith(",22.08")
    assert lines[-1].startswith("Total (EUR)") and lines[-1].endswith(report["total"])
    pdf = api.get("/api/v1/usage/", {**period, "format": "pdf"}).content
    keep("usage-by-cost-centre.pdf", pdf)
    assert "Subtotal CC-4410" in " ".join(" ".join(pdf_pages(pdf)).split())
    assert api.get("/api/v1/usage/", {**period, "group_by": "colour"}).status_code == 400


pytestmark = pytest.mark.django_db


def test_the_finance_page_downloads_usage_grouped_by_cost_centre(october, client):
    world = october
    client.force_login(world.finance)
    page = client.get("/finance/invoices/").content.decode()
    assert 'name="group_by"' in page
    response = client.get(
        "/finance/invoices/usage/",
        {"tenant": "", "year": 2025, "month": 10, "format": "xlsx", "group_by": "cost_centre"},
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(i for i, row in enumerate(values) if row[0] == "Cost centre")
    assert values[header + 1][0] == "CC-4410"
    subtotal = next(row for row in values if row[0] == "Subtotal CC-4410")
    assert subtotal[-1] == pytest.approx(22.08)
