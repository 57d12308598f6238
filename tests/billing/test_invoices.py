"""Invoices: drafts from the ledger in the tenant's month, gapless numbers, immutability once
issued (services, ORM and the database), credit notes, the daily job, the API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import Error, connection, connections, transaction
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from billing import invoicing, tasks
from billing.choices import InvoiceKind, InvoiceStatus, UsageKind
from billing.ledger import usage_event_record
from billing.models import Invoice, InvoiceImmutableError, InvoiceLine
from billing.rating.python import _round_cents, round_money
from portal.errors import ConflictError
from portal.models import AuditEntry
from tests.billing.conftest import price_list
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory, VirtualMachineFactory

OCT_1 = datetime(2025, 10, 1, tzinfo=UTC)


def vm_running(env, *, start: datetime, stop: datetime | None = None, name: str = "web", **flavor):
    """A VM created and started at `start`, stopped (and deleted) at `stop` if given."""
    spec = {"vcpus": 2, "ram_mib": 2048, "disk_gib": 20, **flavor}
    vm = VirtualMachineFactory(
        environment=env, name=name, flavor=FlavorFactory(name=f"f-{name}-{env.pk}", **spec)
    )
    usage_event_record(vm=vm, kind=UsageKind.CREATED, at=start, cause="test")
    usage_event_record(vm=vm, kind=UsageKind.STARTED, at=start, cause="test")
    if stop is not None:
        usage_event_record(vm=vm, kind=UsageKind.STOPPED, at=stop, cause="test")
        usage_event_record(vm=vm, kind=UsageKind.DELETED, at=stop, cause="test")
    return vm


@pytest.fixture
def prices(db):
    return price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")


@pytest.fixture
def october(world: TenantWorld, prices):
    """apollo: one VM running 240 h from 1 October, its disk kept to the end of the month."""
    vm = vm_running(world.development, start=OCT_1)
    usage_event_record(vm=vm, kind=UsageKind.STOPPED, at=OCT_1 + timedelta(hours=240), cause="t")
    return vm


def draft(world: TenantWorld, year: int = 2025, month: int = 10, user=None) -> Invoice:
    invoice, _changed = invoicing.invoice_draft(
        drafted_by=user or world.finance, tenant=world.tenant, year=year, month=month
    )
    return invoice


def figures(invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
    return [(ln.resource, ln.seconds, ln.amount) for ln in invoicing.invoice_lines(invoice)]


def test_draft_has_one_line_per_vm_and_resource_and_the_total_is_their_sum(world, october):
    invoice = draft(world)
    hours_240, month = Decimal(240 * 3600), Decimal(31 * 24 * 3600)
    assert figures(invoice) == [
        ("cpu", hours_240, Decimal("4.80")),  # 240 h x 2 vCPU x 0.01
        ("ram", hours_240, Decimal("2.40")),  # 240 h x 2 GiB x 0.005
        ("disk", month, Decimal("14.88")),  # 744 h x 20 GiB x 0.001
    ]
    assert invoice.total == Decimal("22.08")
    assert invoice.status == InvoiceStatus.DRAFT and invoice.number is None
    assert (invoice.period_start, invoice.period_end) == (OCT_1, datetime(2025, 11, 1, tzinfo=UTC))
    assert invoice.line_count == 3
    line = invoicing.invoice_lines(invoice)[0]
    assert line.vm_name == "web" and line.environment_name == "development"
    assert line.description == "web (development): vCPU, 2 vCPU"
    assert AuditEntry.objects.filter(action="invoice.draft", object_id=str(invoice.pk)).exists()


def test_a_draft_stores_no_lines_and_issuing_writes_them(world, october):
    invoice = draft(world)
    assert not InvoiceLine.objects.exists()
    shown = figures(invoice)
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    stored = list(InvoiceLine.objects.filter(invoice=issued).order_by("sort_key"))
    assert [(ln.resource, ln.seconds, ln.amount) for ln in stored] == shown
    assert [ln.sort_key for ln in stored] == [1, 2, 3]
    assert sum(ln.amount for ln in stored) == issued.total == Decimal("22.08")


def test_issued_lines_keep_the_names_they_were_issued_with(world, october):
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    october.name = "renamed"
    october.save()
    assert {ln.vm_name for ln in invoicing.invoice_lines(invoice)} == {"web"}


def test_issue_refuses_lines_that_changed_since_the_draft_was_built(world, october):
    invoice = draft(world)
    usage_event_record(
        vm=october, kind=UsageKind.DELETED, at=datetime(2025, 10, 21, tzinfo=UTC), cause="late"
    )
    with pytest.raises(ConflictError, match="rebuild the draft"):
        invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT and not InvoiceLine.objects.exists()
    rebuilt = draft(world)
    assert invoicing.invoice_issue(issued_by=world.finance, invoice=rebuilt).total == Decimal(
        "16.80"
    )


def test_issue_refuses_lines_other_than_those_reviewed(world, october):
    invoice = draft(world)
    reviewed = invoicing.lines_digest(invoicing.draft_lines(invoice))
    october.name = "renamed"  # same figures, other lines: the reviewer saw "web"
    october.save()
    with pytest.raises(ConflictError, match="review it again"):
        invoicing.invoice_issue(issued_by=world.finance, invoice=invoice, digest=reviewed)
    fresh = invoicing.lines_digest(invoicing.draft_lines(invoice))
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=invoice, digest=fresh)
    assert {ln.vm_name for ln in invoicing.invoice_lines(issued)} == {"renamed"}


def test_a_month_that_has_not_ended_is_refused(world, prices):
    today = datetime.now(UTC)
    for year, month in [(today.year, today.month), (today.year + 1, 1)]:
        with pytest.raises(ValidationError) as refused:
            draft(world, year, month)
        assert "has not ended yet" in refused.value.message_dict["month"][0]
    assert not Invoice.objects.exists()


def test_rebuilding_an_unchanged_draft_writes_nothing(world, october):
    first = draft(world)
    again, changed = invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=10
    )
    assert (again.pk, changed) == (first.pk, False)
    assert (again.total, again.line_count) == (first.total, first.line_count)
    assert AuditEntry.objects.filter(action="invoice.draft").count() == 1


def test_a_late_ledger_event_is_picked_up_by_the_next_rebuild(world, october):
    first = draft(world)
    usage_event_record(
        vm=october, kind=UsageKind.DELETED, at=datetime(2025, 10, 21, tzinfo=UTC), cause="late"
    )
    again, changed = invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=10
    )
    assert (again.pk, changed) == (first.pk, True)
    assert figures(again)[-1] == ("disk", Decimal(20 * 24 * 3600), Decimal("9.60"))
    assert again.total == Decimal("16.80")


def test_month_boundary_in_paris_differs_from_utc(world, other_world, prices):
    """23:30 UTC on 31 October is already 1 November in Paris (CET, UTC+1)."""
    other_world.tenant.timezone = "Europe/Paris"
    other_world.tenant.save()
    at, until = datetime(2025, 10, 31, 23, 30, tzinfo=UTC), datetime(2025, 11, 1, 0, 30, tzinfo=UTC)
    vm_running(world.development, start=at, stop=until)
    vm_running(other_world.development, start=at, stop=until)

    def seconds(w, month):
        return {ln.seconds for ln in invoicing.invoice_lines(draft(w, 2025, month))}

    assert seconds(world, 10) == {Decimal(1800)}
    assert seconds(other_world, 10) == set()
    assert seconds(world, 11) == {Decimal(1800)}
    assert seconds(other_world, 11) == {Decimal(3600)}
    paris_oct = Invoice.objects.get(tenant=other_world.tenant, month=10)
    assert paris_oct.period_end == datetime(2025, 10, 31, 23, 0, tzinfo=UTC)
    assert paris_oct.timezone == "Europe/Paris"


def test_issue_numbers_are_sequential_per_year(world, other_world, prices):
    jul_1 = datetime(2025, 7, 1, tzinfo=UTC)
    vm_running(world.development, start=jul_1)
    vm_running(other_world.development, start=jul_1)
    numbers = []
    for w in (world, other_world):
        for month in (7, 8, 9):
            invoice = invoicing.invoice_issue(issued_by=w.finance, invoice=draft(w, 2025, month))
            numbers.append(invoice.number)
    year = datetime.now(UTC).year
    assert numbers == [f"NU-{year}-{n:06d}" for n in range(1, 7)]


def test_a_rolled_back_issue_gives_its_number_back(world, october):
    invoice = draft(world)
    with pytest.raises(RuntimeError), transaction.atomic():
        invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
        raise RuntimeError("the request failed after issuing")
    invoice.refresh_from_db()
    assert invoice.number is None
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    assert issued.number.endswith("-000001")


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_get_distinct_gapless_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from tests.conftest import make_world

    w = make_world("race")
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.001")
    vm_running(w.development, start=datetime(2025, 1, 1, tzinfo=UTC))
    drafts = [draft(w, 2025, month) for month in range(1, 9)]
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(drafts))

    def issue(invoice: Invoice) -> None:
        try:
            barrier.wait(timeout=30)
            numbers.append(invoicing.invoice_issue(issued_by=w.finance, invoice=invoice).number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 9))


def test_issued_invoice_cannot_be_changed_by_the_services(world, october):
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    with pytest.raises(ConflictError, match="already issued"):
        invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    with pytest.raises(ConflictError, match="credit note"):
        draft(world)


def test_issued_invoice_cannot_be_changed_through_the_orm(world, october):
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    line = invoicing.invoice_lines(invoice)[0]
    invoice.total = Decimal("1.00")
    line.amount = Decimal("0.01")
    for attempt in (
        invoice.save,
        invoice.delete,
        line.save,
        line.delete,
        lambda: Invoice.objects.filter(pk=invoice.pk).update(total=0),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
        lambda: InvoiceLine.objects.filter(invoice=invoice).update(amount=0),
        lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
        lambda: InvoiceLine.objects.create(invoice=invoice, sort_key=99, **_line_values(line)),
    ):
        with pytest.raises(InvoiceImmutableError):
            attempt()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("22.08")


def _line_values(line: InvoiceLine) -> dict:
    return {f: getattr(line, f) for f in invoicing.LINE_FIELDS}


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE billing_invoice SET total = 0 WHERE id = %(invoice)s",
        "UPDATE billing_invoice SET status = 'draft', number = NULL, issued_at = NULL "
        "WHERE id = %(invoice)s",
        "DELETE FROM billing_invoice WHERE id = %(invoice)s",
        "UPDATE billing_invoiceline SET amount = 0 WHERE invoice_id = %(invoice)s",
        "DELETE FROM billing_invoiceline WHERE invoice_id = %(invoice)s",
        "INSERT INTO billing_invoiceline (invoice_id, sort_key, vm_name, environment_name, "
        'resource, unit, flavor_name, quantity, seconds, start, "end", amount, description) '
        "SELECT invoice_id, 99, vm_name, environment_name, resource, unit, flavor_name, "
        'quantity, seconds, start, "end", -100, description FROM billing_invoiceline '
        "WHERE invoice_id = %(invoice)s AND sort_key = 1",
    ],
)
def test_the_database_refuses_raw_changes_to_an_issued_invoice(world, october, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's (SQLite is the demo only)")
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    with pytest.raises(Error, match="issued"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, {"invoice": invoice.pk})
    invoice.refresh_from_db()
    assert invoice.total == Decimal("22.08") and invoice.lines.count() == 3


def test_credit_note_reverses_every_line_exactly(world, october):
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    note, fresh = invoicing.invoice_credit(credited_by=world.finance, invoice=invoice)
    assert fresh is None
    assert note.kind == InvoiceKind.CREDIT_NOTE and note.status == InvoiceStatus.ISSUED
    # Credit notes are numbered in a series of their own.
    assert note.corrects == invoice and note.number == invoice.number.replace("NU-", "CN-")
    assert note.total == -invoice.total == Decimal("-22.08")
    original = list(invoicing.invoice_lines(invoice))
    reversed_ = list(invoicing.invoice_lines(note))
    assert [(ln.description, -ln.amount, -ln.seconds) for ln in original] == [
        (ln.description, ln.amount, ln.seconds) for ln in reversed_
    ]
    assert sum(ln.amount for ln in original + reversed_) == 0
    assert AuditEntry.objects.filter(action="invoice.credit_note", tenant=world.tenant).exists()
    with pytest.raises(ConflictError, match="already credited"):
        invoicing.invoice_credit(credited_by=world.finance, invoice=invoice)
    with pytest.raises(ConflictError, match="cannot itself be credited"):
        invoicing.invoice_credit(credited_by=world.finance, invoice=note)


def test_credit_note_with_redraft_gives_a_fresh_draft_to_issue(world, october):
    invoice = invoicing.invoice_issue(issued_by=world.finance, invoice=draft(world))
    _note, fresh = invoicing.invoice_credit(
        credited_by=world.platform_admin, invoice=invoice, redraft=True
    )
    assert fresh.status == InvoiceStatus.DRAFT and fresh.pk != invoice.pk
    assert figures(fresh) == figures(invoice)
    reissued = invoicing.invoice_issue(issued_by=world.finance, invoice=fresh)
    assert reissued.number.endswith("-000002") and reissued.number.startswith("NU-")


def test_a_draft_is_not_credited(world, october):
    with pytest.raises(ConflictError, match="Only an issued invoice"):
        invoicing.invoice_credit(credited_by=world.finance, invoice=draft(world))


def test_only_finance_and_platform_admins_manage_invoices(world, october):
    invoice = draft(world, user=world.platform_admin)
    for user in (world.tenant_admin, world.member, world.approver):
        with pytest.raises(PermissionDenied):
            draft(world, user=user)
        with pytest.raises(PermissionDenied):
            invoicing.invoice_issue(issued_by=user, invoice=invoice)


def test_who_sees_which_invoices(world, other_world, prices):
    vm_running(world.development, start=OCT_1)
    vm_running(other_world.development, start=OCT_1)
    ours, theirs = draft(world), draft(other_world)

    def seen(user):
        return set(invoicing.invoice_list(fetched_by=user))

    assert seen(world.finance) == seen(world.platform_admin) == {ours, theirs}
    assert seen(world.tenant_admin) == {ours}
    assert seen(other_world.tenant_admin) == {theirs}
    assert seen(world.member) == seen(world.approver) == set()


# The daily job -------------------------------------------------------------------------------


def test_daily_job_drafts_last_month_for_tenants_with_usage_and_twice_changes_nothing(
    world, other_world, prices
):
    from tests.conftest import make_world

    idle = make_world("idle")  # no usage: no invoice
    vm_running(world.development, start=OCT_1)
    vm_running(other_world.development, start=OCT_1)
    invoicing.invoice_issue(issued_by=world.finance, invoice=draft(other_world))  # already done
    now = datetime(2025, 11, 2, 3, 0, tzinfo=UTC)

    first = invoicing.invoices_draft_due(now=now)
    assert [(i.tenant, i.year, i.month, i.status) for i in first] == [
        (world.tenant, 2025, 10, InvoiceStatus.DRAFT)
    ]

    def state():
        return (
            list(Invoice.objects.order_by("pk").values_list("pk", "status", "total", "number")),
            list(InvoiceLine.objects.order_by("pk").values_list("pk", "invoice_id", "amount")),
            AuditEntry.objects.count(),
        )

    before = state()
    assert invoicing.invoices_draft_due(now=now) == []
    assert state() == before
    assert not Invoice.objects.filter(tenant=idle.tenant).exists()


def test_daily_job_follows_each_tenants_zone(world, other_world, prices):
    """At 23:30 UTC on 31 October it is already November in Paris: October is due there only."""
    other_world.tenant.timezone = "Europe/Paris"
    other_world.tenant.save()
    vm_running(world.development, start=datetime(2025, 9, 1, tzinfo=UTC))
    vm_running(other_world.development, start=datetime(2025, 9, 1, tzinfo=UTC))
    drafted = invoicing.invoices_draft_due(now=datetime(2025, 10, 31, 23, 30, tzinfo=UTC))
    assert sorted((i.tenant.slug, i.month) for i in drafted) == [("apollo", 9), ("zephyr", 10)]


def test_daily_job_is_a_beat_task(settings, world, october):
    entry = settings.CELERY_BEAT_SCHEDULE["invoice-drafts"]
    assert entry["task"] == "billing.invoices_draft_due"
    assert tasks.invoices_draft_due.name == entry["task"]
    tasks.invoices_draft_due.delay()  # eager in tests: last month, and the VM's disk still exists
    assert Invoice.objects.filter(tenant=world.tenant, status=InvoiceStatus.DRAFT).count() == 1


# The API -------------------------------------------------------------------------------------


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_finance_drafts_issues_and_credits_through_the_api(world, october):
    finance = client_for(world.finance)
    body = {"tenant": "apollo", "year": 2025, "month": 10}
    created = finance.post("/api/v1/invoices/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "draft" and data["total"] == "22.08" and len(data["lines"]) == 3
    assert finance.post("/api/v1/invoices/", body, format="json").status_code == 200

    issued = finance.post(f"/api/v1/invoices/{data['id']}/issue/")
    assert issued.status_code == 200 and issued.json()["number"].startswith("NU-")
    assert finance.post(f"/api/v1/invoices/{data['id']}/issue/").status_code == 409
    assert finance.post("/api/v1/invoices/", body, format="json").status_code == 409

    credit = finance.post(
        f"/api/v1/invoices/{data['id']}/credit-note/", {"redraft": True}, format="json"
    )
    assert credit.status_code == 201, credit.content
    assert credit.json()["credit_note"]["total"] == "-22.08"
    assert credit.json()["draft"]["status"] == "draft"

    listed = finance.get("/api/v1/invoices/", {"tenant": world.tenant.pk, "status": "issued"})
    assert {i["kind"] for i in listed.json()["results"]} == {"invoice", "credit_note"}
    assert finance.get("/api/v1/invoices/", {"year": 2024}).json()["results"] == []


def test_api_refuses_a_month_that_has_not_ended_with_400(world, prices):
    today = datetime.now(UTC)
    answer = client_for(world.finance).post(
        "/api/v1/invoices/",
        {"tenant": "apollo", "year": today.year, "month": today.month},
        format="json",
    )
    assert answer.status_code == 400
    assert "has not ended yet" in answer.json()["month"][0]


def test_api_bad_draft_requests_get_field_messages(world, prices):
    finance = client_for(world.finance)
    assert (
        "month"
        in finance.post(
            "/api/v1/invoices/", {"tenant": "apollo", "year": 2025, "month": 13}, format="json"
        ).json()
    )
    assert (
        "tenant"
        in finance.post(
            "/api/v1/invoices/", {"tenant": "nobody", "year": 2025, "month": 1}, format="json"
        ).json()
    )


def test_tenant_admin_reads_own_invoices_but_cannot_draft_or_issue(world, other_world, october):
    invoice = draft(world)
    admin = client_for(world.tenant_admin)
    assert admin.get(f"/api/v1/invoices/{invoice.pk}/").status_code == 200
    assert admin.post(f"/api/v1/invoices/{invoice.pk}/issue/").status_code == 403
    assert (
        admin.post(
            "/api/v1/invoices/", {"tenant": "apollo", "year": 2025, "month": 9}, format="json"
        ).status_code
        == 403
    )
    assert client_for(world.member).get(f"/api/v1/invoices/{invoice.pk}/").status_code == 404
    stranger = client_for(other_world.tenant_admin)
    assert stranger.get(f"/api/v1/invoices/{invoice.pk}/").status_code == 404


# The pages -----------------------------------------------------------------------------------


def test_finance_drafts_issues_and_credits_from_the_pages(client, world, october):
    client.force_login(world.finance)
    page = client.get("/finance/invoices/")
    assert page.status_code == 200 and b"Draft a month" in page.content
    built = client.post(
        "/finance/invoices/", {"tenant": world.tenant.pk, "year": 2025, "month": 10}
    )
    invoice = Invoice.objects.get(tenant=world.tenant)
    assert built.status_code == 302 and built["Location"] == f"/finance/invoices/{invoice.pk}/"
    detail = client.get(built["Location"])
    assert b"22.08" in detail.content and b'id="issue"' in detail.content
    client.post(f"/finance/invoices/{invoice.pk}/issue/")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.ISSUED
    assert b'id="credit"' in client.get(f"/finance/invoices/{invoice.pk}/").content
    credited = client.post(f"/finance/invoices/{invoice.pk}/credit-note/", {"redraft": "1"})
    fresh = Invoice.objects.get(tenant=world.tenant, status=InvoiceStatus.DRAFT)
    assert credited["Location"] == f"/finance/invoices/{fresh.pk}/"
    listed = client.get("/finance/invoices/", {"status": "issued"})
    assert listed.content.count(b"data-invoice=") == 2


def test_the_draft_page_issues_only_what_it_showed(client, world, october):
    """The page posts the digest of the lines it shows; a change in between refuses the issue
    with the reason, and the page says the draft is out of date once the ledger moved."""
    invoice = draft(world)
    client.force_login(world.finance)
    shown = client.get(f"/finance/invoices/{invoice.pk}/")
    digest = invoicing.lines_digest(invoicing.draft_lines(invoice))
    assert f'name="digest" value="{digest}"'.encode() in shown.content
    assert b'id="draft-stale"' not in shown.content
    october.name = "renamed"
    october.save()
    refused = client.post(f"/finance/invoices/{invoice.pk}/issue/", {"digest": digest}, follow=True)
    assert b"review it again" in refused.content
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT
    usage_event_record(
        vm=october, kind=UsageKind.DELETED, at=datetime(2025, 10, 21, tzinfo=UTC), cause="late"
    )
    assert b'id="draft-stale"' in client.get(f"/finance/invoices/{invoice.pk}/").content


def test_the_api_issues_a_draft_against_its_digest(world, october):
    api = APIClient()
    api.force_authenticate(world.finance)
    invoice = draft(world)
    detail = api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert detail["line_count"] == len(detail["lines"]) == 3 and len(detail["digest"]) == 64
    wrong = api.post(f"/api/v1/invoices/{invoice.pk}/issue/", {"digest": "0" * 64})
    assert wrong.status_code == 409 and "review it again" in str(wrong.json())
    issued = api.post(f"/api/v1/invoices/{invoice.pk}/issue/", {"digest": detail["digest"]})
    assert issued.status_code == 200 and issued.json()["number"]
    assert issued.json()["lines"] == detail["lines"] and issued.json()["digest"] == ""


def test_drafting_a_month_not_over_shows_the_reason_on_the_form(client, world, prices):
    client.force_login(world.finance)
    today = datetime.now(UTC)
    page = client.post(
        "/finance/invoices/", {"tenant": world.tenant.pk, "year": today.year, "month": today.month}
    )
    assert page.status_code == 200 and b"has not ended yet" in page.content
    assert not Invoice.objects.exists()


def test_tenant_admin_reads_own_invoices_without_buttons(client, world, other_world, october):
    ours = draft(world)
    vm_running(other_world.development, start=OCT_1)
    theirs = draft(other_world)
    client.force_login(world.tenant_admin)
    listing = client.get("/finance/invoices/")
    assert listing.status_code == 200 and b"Draft a month" not in listing.content
    assert f'data-invoice="{ours.pk}"'.encode() in listing.content
    assert f'data-invoice="{theirs.pk}"'.encode() not in listing.content
    detail = client.get(f"/finance/invoices/{ours.pk}/")
    assert b'id="issue"' not in detail.content
    assert client.post(f"/finance/invoices/{ours.pk}/issue/").status_code == 302
    ours.refresh_from_db()
    assert ours.status == InvoiceStatus.DRAFT
    assert client.get(f"/finance/invoices/{theirs.pk}/").status_code == 404
    assert client.get(f"/finance/invoices/{theirs.pk}/download.pdf").status_code == 404
    assert client.post("/finance/invoices/", {"tenant": world.tenant.pk}).status_code == 403


def test_members_have_no_invoice_pages(client, world, october):
    invoice = draft(world)
    client.force_login(world.member)
    assert client.get("/finance/invoices/").status_code == 404  # as a missing page
    assert client.get(f"/finance/invoices/{invoice.pk}/").status_code == 404
    assert b"/finance/invoices/" not in client.get("/").content
    client.force_login(world.tenant_admin)
    assert b'href="/finance/invoices/"' in client.get("/").content


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**9))
def test_line_rounding_in_integers_is_the_fraction_rounding(numerator, denominator):
    """usage_lines values lines in integers for speed; it must round exactly as round_money."""
    fast, exact = (
        _round_cents(numerator, denominator),
        round_money(Fraction(numerator, denominator)),
    )
    assert (fast, str(fast)) == (exact, str(exact))
