"""Bounds on what a request may ask: pages of at most 500, usage periods of at most 366 days,
years, months and dates out of range or in odd digits are a 400 (never a 500), a tenant with its
time zone, and spreadsheet formulas defused in the billing exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from billing import exports
from compute.models import Flavor
from portal.models import AuditEntry, Tenant

ODD_YEARS = ["9999", "99999999999999999999", "٢٠٢٦", "²⁰²⁶", "2026.5", "-1", "0x7e6", "1e3", " "]
ODD_INSTANTS = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "99999-01-01",
    "2026-02-30",
    "２０２６-01-01",
    "2026-13-01",
    "yesterday",
]


def _not_500(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, response.content[:500]


# --- pages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_holds_at_most_500_rows(api, world):
    Flavor.objects.bulk_create(
        Flavor(name=f"f{n}", vcpus=1, ram_mib=512, disk_gib=1) for n in range(505)
    )
    api.force_authenticate(world.member)
    page = api.get("/api/v1/flavors/", {"limit": 100000}).json()
    assert page["count"] == 505
    assert len(page["results"]) == 500
    assert "limit=500" in page["next"]
    assert len(api.get("/api/v1/flavors/", {"limit": 20}).json()["results"]) == 20


# --- years, months, dates ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("year", ODD_YEARS)
def test_drafting_an_invoice_for_an_odd_year_is_a_400(api, world, year):
    api.force_authenticate(world.finance)
    response = api.post(
        "/api/v1/invoices/", {"tenant": world.tenant.pk, "year": year, "month": 12}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "year" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("month", ["13", "0", "٣", "²", "99999999999999999999", "1.5"])
def test_drafting_an_invoice_for_an_odd_month_is_a_400(api, world, month):
    api.force_authenticate(world.finance)
    response = api.post(
        "/api/v1/invoices/",
        {"tenant": world.tenant.pk, "year": 2025, "month": month},
        format="json",
    )
    assert response.status_code == 400, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("value", ODD_YEARS)
def test_filtering_invoices_by_an_odd_year_or_month_never_fails(api, world, value):
    api.force_authenticate(world.finance)
    for name in ("year", "month"):
        response = api.get("/api/v1/invoices/", {name: value})
        assert response.status_code in (200, 400), (name, value, response.content[:300])


@pytest.mark.django_db
@pytest.mark.parametrize("value", ODD_INSTANTS)
def test_a_usage_period_with_odd_dates_is_a_400(api, world, value):
    api.force_authenticate(world.finance)
    for name in ("start", "end"):
        response = api.get("/api/v1/usage/", {name: value})
        assert response.status_code == 400, (name, value, response.content[:300])


@pytest.mark.django_db
def test_a_usage_period_is_at_most_366_days_on_the_api_too(api, world):
    api.force_authenticate(world.finance)
    too_long = api.get("/api/v1/usage/", {"start": "2024-01-01", "end": "2025-01-02T00:00:01Z"})
    assert too_long.status_code == 400
    assert "end" in too_long.json()
    assert (
        api.get("/api/v1/usage/", {"start": "2025-01-01", "end": "2026-01-01"}).status_code == 200
    )
    for fmt in ("csv", "xlsx"):
        response = api.get(
            "/api/v1/usage/", {"start": "2020-01-01", "end": "2025-01-01", "format": fmt}
        )
        assert response.status_code == 400, fmt


@pytest.mark.django_db
@pytest.mark.parametrize("tenant", ["²", "٣", "99999999999999999999", "0"])
def test_an_odd_tenant_id_in_the_usage_query_is_a_400(api, world, tenant):
    api.force_authenticate(world.finance)
    response = api.get("/api/v1/usage/", {"tenant": tenant})
    assert response.status_code == 400, response.content[:300]
    assert "tenant" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ODD_INSTANTS)
def test_the_audit_log_with_odd_dates_never_fails(api, client, world, value):
    AuditEntry.objects.create(action="x.y", object_type="t", object_id="1", object_repr="x")
    api.force_authenticate(world.platform_admin)
    client.force_login(world.platform_admin)
    for name in ("since", "until"):
        response = api.get("/api/v1/audit/", {name: value})
        assert response.status_code in (200, 400), (name, value, response.content[:300])
        _not_500(client.get("/audit/", {name: value}))
        _not_500(client.get("/audit/", {name: value, "format": "csv"}))


@pytest.mark.django_db
@pytest.mark.parametrize("year", ODD_YEARS)
def test_the_invoice_pages_with_odd_years_never_fail(client, world, year):
    client.force_login(world.finance)
    _not_500(client.get("/finance/invoices/", {"year": year, "month": 12}))
    _not_500(
        client.get(
            "/finance/invoices/usage/",
            {"tenant": world.tenant.slug, "year": year, "month": 12, "format": "csv"},
        )
    )
    _not_500(
        client.post("/finance/invoices/", {"tenant": world.tenant.pk, "year": year, "month": 12})
    )


@pytest.mark.django_db
def test_the_year_9999_is_refused_where_a_month_is_asked(client, api, world):
    client.force_login(world.finance)
    response = client.get(
        "/finance/invoices/usage/",
        {"tenant": world.tenant.slug, "year": 9999, "month": 12, "format": "csv"},
    )
    assert response.status_code == 302  # back to the list, with the form's message
    api.force_authenticate(world.finance)
    assert (
        api.post(
            "/api/v1/invoices/",
            {"tenant": world.tenant.pk, "year": 9999, "month": 12},
            format="json",
        ).status_code
        == 400
    )


@pytest.mark.django_db
@pytest.mark.parametrize("value", ODD_INSTANTS)
def test_the_finance_page_with_odd_dates_never_fails(client, world, value):
    client.force_login(world.finance)
    for name in ("start", "end"):
        other = "end" if name == "start" else "start"
        _not_500(client.get("/finance/", {name: value, other: "2026-01-01"}))
    _not_500(client.get("/finance/", {"start": "0001-01-01", "end": "0001-01-02"}))


@pytest.mark.django_db
@pytest.mark.parametrize("value", ODD_INSTANTS)
def test_odd_dates_in_prices_and_tokens_are_a_400(api, world, value):
    api.force_authenticate(world.platform_admin)
    token = api.post("/api/v1/tokens/", {"name": "t", "expires_at": value}, format="json")
    assert token.status_code == 400, token.content[:300]
    api.force_authenticate(world.finance)
    price = api.post(
        "/api/v1/prices/",
        {"name": "p", "currency": "EUR", "effective_from": value, "prices": []},
        format="json",
    )
    assert price.status_code == 400, price.content[:300]


@pytest.mark.django_db
def test_odd_digits_in_an_environments_limit_are_refused(client, world):
    client.force_login(world.tenant_admin)
    response = client.post(
        "/tenant/",
        {
            "do": "environment",
            "environment": world.development.pk,
            "auto_approve_max_vcpus": "²",
        },
    )
    _not_500(response)


# --- tenants ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tenant_is_created_with_its_time_zone(api, world):
    api.force_authenticate(world.platform_admin)
    response = api.post(
        "/api/v1/tenants/",
        {"name": "Kiribati", "slug": "kiribati", "timezone": "Pacific/Kiritimati"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "Pacific/Kiritimati"
    assert Tenant.objects.get(slug="kiribati").timezone == "Pacific/Kiritimati"
    bad = api.post(
        "/api/v1/tenants/", {"name": "Nowhere", "slug": "nowhere", "timezone": "Mars/Olympus"}
    )
    assert bad.status_code == 400
    assert "timezone" in bad.json()
    plain = api.post("/api/v1/tenants/", {"name": "Plain", "slug": "plain"}, format="json")
    assert plain.json()["timezone"] == "UTC"


# --- formulas in exports ----------------------------------------------------------------

FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def _table() -> exports.Table:
    rows = [[name, Decimal("-12.50")] for name in FORMULAS] + [["plain", Decimal("3.00")]]
    return exports.Table(
        title="=title",
        columns=[exports.Column("=label"), exports.Column("Amount", "money")],
        rows=rows,
        money_column=1,
        total_label="Total",
        facts=[("Tenant", '=HYPERLINK("http://x")')],
        dated=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_formula_cells_are_defused_in_the_csv():
    text = b"".join(exports.csv_chunks(_table())).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "'=label"
    assert [r[0] for r in rows[1:7]] == ["'" + f for f in FORMULAS]
    # Numbers are numbers: a negative amount keeps its sign and no quote.
    assert rows[1][1] == "-12.50"
    assert rows[7] == ["plain", "3.00"]


def test_formula_cells_are_text_in_the_xlsx():
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(_table())))
    sheet = book.active
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    risky = [c for c in cells if c.value.startswith(tuple(exports._FORMULA_START))]
    assert risky, "the table has formula-like text"
    for cell in risky:
        assert cell.data_type == "s", (cell.coordinate, cell.value)
        assert cell.quotePrefix
    amounts = [
        c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, int | float)
    ]
    assert -12.5 in amounts
