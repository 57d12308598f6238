"""Writes to invoices: drafts built from the ledger, issue with a gapless number, credit notes.

A draft is a pure function of the ledger, the price lists and the tenant's month, so it stores
only its header (line count and total): its lines are computed from the ledger whenever it is
shown or exported, the same lines in the same order every time. Drafting every tenant's month
is then one query over the ledger's intervals on PostgreSQL (billing/rating/sql.py), and when
nothing changed nothing is written. Issuing computes the lines once more with the engine that
counted the header (billing/rating/lines.py), refuses if they are not those of the draft as
built (or as reviewed, when the reviewer's digest is given), writes them and freezes the
invoice; the only correction of an issued invoice is a credit note that
reverses it line by line, optionally followed by a fresh draft.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.choices import InvoiceKind, InvoiceStatus
from billing.invoicing.lines import LINE_FIELDS, draft_lines, lines_digest
from billing.invoicing.numbering import invoice_number_allocate
from billing.invoicing.parties import customer_details, issuer_details
from billing.invoicing.selectors import invoice_lines
from billing.invoicing.vat import vat_of, vat_rate_for
from billing.models import Invoice, InvoiceLine
from billing.periods import month_bounds, month_of
from billing.rating.lines import billable_summaries
from billing.selectors import billing_currency
from portal.audit import audit_entry, audit_record, audit_record_many
from portal.bulk import copy_insert
from portal.errors import ConflictError
from portal.models import Tenant, User
from portal.permissions import Perm, require_platform_perm

ZERO = Decimal("0.00")
HEADER_FIELDS = (
    "tenant_name",
    "timezone",
    "period_start",
    "period_end",
    "currency",
    "total",
    "vat_rate",
    "vat_amount",
    "line_count",
)


class EmptyInvoiceError(ConflictError):
    """A draft without a billable line: it is not issued, so it takes no legal number."""


def invoice_period(
    tenant: Tenant, year: int, month: int, *, now: datetime
) -> tuple[datetime, datetime]:
    """The month in the tenant's zone as UTC instants; refused unless it has ended."""
    if not 2000 <= year <= 9999:
        raise ValidationError({"year": _("Give a year between 2000 and 9999.")})
    if not 1 <= month <= 12:
        raise ValidationError({"month": _("A month is 1 to 12.")})
    start, end = month_bounds(tenant.zone, year, month)
    if end > now:
        raise ValidationError(
            {
                "month": _(
                    "%(year)04d-%(month)02d has not ended yet in %(zone)s; it can be invoiced "
                    "from %(end)s."
                )
                % {
                    "year": year,
                    "month": month,
                    "zone": tenant.timezone,
                    "end": end.astimezone(tenant.zone).strftime("%Y-%m-%d %H:%M"),
                }
            }
        )
    return start, end


def _uncredited_issued(tenant_ids: Iterable[int], year: int, month: int) -> dict[int, str]:
    """Tenant id -> number of the issued invoice of that month that no credit note reverses."""
    rows = (
        Invoice.objects.unscoped()
        .filter(
            tenant_id__in=list(tenant_ids),
            year=year,
            month=month,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.ISSUED,
            credit_notes__isnull=True,
        )
        .values_list("tenant_id", "number")
    )
    return {tenant_id: number or "" for tenant_id, number in rows}


def _insert_lines(rows: Iterable[tuple[object, ...]]) -> None:
    """(invoice id, sort key, *LINE_FIELDS) rows; COPY on PostgreSQL: drafting a month for
    every tenant writes a hundred thousand lines, and INSERT costs several times more."""
    pending = iter(rows)
    first = next(pending, None)
    if first is None:
        return  # nothing to write: no COPY round trip
    rows = chain([first], pending)
    if connection.vendor != "postgresql":
        InvoiceLine.objects.bulk_create(
            (
                InvoiceLine(**dict(zip(("invoice_id", "sort_key", *LINE_FIELDS), row, strict=True)))
                for row in rows
            ),
            batch_size=2000,
        )
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("invoice_id", "sort_key", *LINE_FIELDS))
    table = quote(InvoiceLine._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN"  # noqa: S608 - names, not input
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


@dataclass(frozen=True)
class _Month:
    year: int
    month: int
    start: datetime
    end: datetime


def _write_drafts(
    *,
    period: _Month,
    tenants: list[Tenant],
    summaries: dict[int, tuple[int, Decimal]],
    drafted_by: User | None,
    remote_addr: str | None,
    create_empty: bool,
) -> list[tuple[Invoice, bool]]:
    """Create or update the drafts of these (locked) tenants; an unchanged draft is not touched.

    Returns (invoice, changed) per tenant drafted.
    """
    currency = billing_currency()
    existing = {
        inv.tenant_id: inv
        for inv in Invoice.objects.unscoped().filter(
            tenant__in=tenants,
            year=period.year,
            month=period.month,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.DRAFT,
        )
    }
    results: list[tuple[Invoice, bool]] = []
    created: list[Invoice] = []
    updated: list[Invoice] = []
    for tenant in tenants:
        count, amount = summaries.get(tenant.pk, (0, ZERO))
        rate = vat_rate_for(tenant)
        header = {
            "tenant_name": tenant.name,
            "timezone": tenant.timezone,
            "period_start": period.start,
            "period_end": period.end,
            "currency": currency,
            "total": amount,
            "vat_rate": rate,
            "vat_amount": vat_of(amount, rate),
            "line_count": count,
        }
        draft = existing.get(tenant.pk)
        if draft is None:
            if not count and not create_empty:
                continue
            draft = Invoice(
                tenant=tenant, year=period.year, month=period.month, drafted_by=drafted_by, **header
            )
            created.append(draft)
            results.append((draft, True))
            continue
        if all(getattr(draft, k) == v for k, v in header.items()):
            results.append((draft, False))
            continue
        for name, value in header.items():
            setattr(draft, name, value)
        draft.drafted_by = drafted_by or draft.drafted_by
        updated.append(draft)
        results.append((draft, True))

    if created:
        # COPY, then the new drafts' ids read back by their unique key (one draft per month).
        copy_insert(Invoice, created)
        ids = dict(
            Invoice.objects.unscoped()
            .filter(
                tenant_id__in=[inv.tenant_id for inv in created],
                year=period.year,
                month=period.month,
                kind=InvoiceKind.INVOICE,
                status=InvoiceStatus.DRAFT,
            )
            .values_list("tenant_id", "pk")
        )
        for inv in created:
            inv.pk = ids[inv.tenant_id]
            inv._state.adding = False
    if updated:
        Invoice.objects.unscoped().bulk_update(updated, [*HEADER_FIELDS, "drafted_by"])
    by_pk = {t.pk: t for t in tenants}
    audit_record_many(
        [
            audit_entry(
                actor=drafted_by,
                action="invoice.draft",
                obj=inv,
                tenant=by_pk[inv.tenant_id],
                remote_addr=remote_addr,
                changes={
                    "period": f"{period.year:04d}-{period.month:02d}",
                    "total": inv.total,
                    "lines": inv.line_count,
                },
            )
            for inv, changed in results
            if changed
        ]
    )
    return results


@transaction.atomic
def invoice_draft(
    *,
    drafted_by: User | None,
    tenant: Tenant,
    year: int,
    month: int,
    remote_addr: str | None = None,
) -> tuple[Invoice, bool]:
    """Build (or rebuild) the tenant's draft for a month that has ended in its time zone.

    Returns the draft and whether anything changed. `drafted_by` None is Nuage itself.
    """
    if drafted_by is not None:
        require_platform_perm(drafted_by, Perm.INVOICE_MANAGE)
    start, end = invoice_period(tenant, year, month, now=timezone.now())
    locked = Tenant.objects.unscoped().select_for_update().get(pk=tenant.pk)
    issued = _uncredited_issued([locked.pk], year, month)
    if issued:
        raise ConflictError(
            _(
                "%(year)04d-%(month)02d of %(tenant)s is already invoiced as %(number)s; "
                "issue a credit note to correct it."
            )
            % {"year": year, "month": month, "tenant": locked.name, "number": issued[locked.pk]},
            state=InvoiceStatus.ISSUED,
        )
    period = _Month(year, month, start, end)
    [(invoice, changed)] = _write_drafts(
        period=period,
        tenants=[locked],
        summaries=billable_summaries([locked.pk], start=start, end=end),
        drafted_by=drafted_by,
        remote_addr=remote_addr,
        create_empty=True,
    )
    return invoice, changed


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year, month - 1) if month > 1 else (year - 1, 12)


def invoices_draft_due(*, now: datetime | None = None) -> list[Invoice]:
    """Periodic: draft last month (in each tenant's zone) for every tenant with billable usage
    and no issued invoice for it. Rebuilds drafts whose ledger changed; returns those written.

    Tenants whose months share the same bounds are computed from one scan of the ledger.
    """
    now = now or timezone.now()
    groups: dict[_Month, list[int]] = defaultdict(list)
    for tenant in Tenant.objects.unscoped().order_by("pk"):
        year, month = _previous_month(*month_of(tenant.zone, now))
        start, end = month_bounds(tenant.zone, year, month)
        groups[_Month(year, month, start, end)].append(tenant.pk)
    written: list[Invoice] = []
    for period, tenant_ids in groups.items():
        with transaction.atomic():
            locked = list(
                Tenant.objects.unscoped()
                .select_for_update()
                .filter(pk__in=tenant_ids)
                .order_by("pk")
            )
            issued = _uncredited_issued(tenant_ids, period.year, period.month)
            todo = [t for t in locked if t.pk not in issued]
            results = _write_drafts(
                period=period,
                tenants=todo,
                summaries=billable_summaries(
                    [t.pk for t in todo], start=period.start, end=period.end
                ),
                drafted_by=None,
                remote_addr=None,
                create_empty=False,
            )
            written += [inv for inv, changed in results if changed]
    return written


def _issue(invoice: Invoice, issued_by: User | None, tenant: Tenant) -> None:
    """Number it in its series, date it, copy both parties' details into it, freeze it."""
    now = timezone.now()
    issued_on = now.astimezone(tenant.zone).date()
    invoice.number = invoice_number_allocate(timezone.localdate(now).year, invoice.kind)
    invoice.status = InvoiceStatus.ISSUED
    invoice.issued_at = now
    invoice.issued_by = issued_by
    invoice.issued_by_username = issued_by.username if issued_by is not None else ""
    invoice.issuer = issuer_details()
    invoice.customer = customer_details(tenant)
    if invoice.kind == InvoiceKind.INVOICE:
        days = int(settings.NUAGE.get("PAYMENT_TERMS_DAYS", 30))
        invoice.due_date = issued_on + timedelta(days=days)
    invoice.save(
        update_fields=[
            "number",
            "status",
            "issued_at",
            "issued_by",
            "issued_by_username",
            "issuer",
            "customer",
            "due_date",
        ]
    )


def _lock(invoice: Invoice) -> Invoice:
    # Tenant first, then the invoice: the order drafting takes them in.
    Tenant.objects.unscoped().select_for_update().filter(pk=invoice.tenant_id).first()
    return (
        Invoice.objects.unscoped().select_for_update().select_related("tenant").get(pk=invoice.pk)
    )


@transaction.atomic
def invoice_issue(
    *,
    issued_by: User,
    invoice: Invoice,
    digest: str | None = None,
    remote_addr: str | None = None,
) -> Invoice:
    """Write the draft's lines, give it the next number of the year and freeze it.

    The lines are computed from the ledger once more: if they no longer match the draft's
    header (the ledger changed since it was built) or, when given, the `digest` of the lines
    the reviewer saw (`lines_digest`), nothing is issued and the draft must be rebuilt and
    reviewed again.
    """
    require_platform_perm(issued_by, Perm.INVOICE_MANAGE)
    locked = _lock(invoice)
    if locked.status != InvoiceStatus.DRAFT:
        raise ConflictError(
            _("This invoice is already issued as %(number)s.") % {"number": locked.number},
            state=locked.status,
        )
    lines = draft_lines(locked)
    if not lines:
        raise EmptyInvoiceError(
            _(
                "This draft has no billable line: it is not issued, so it takes no invoice "
                "number. Nothing is owed for %(year)04d-%(month)02d."
            )
            % {"year": locked.year, "month": locked.month},
            state=locked.status,
        )
    total = sum((line.amount for line in lines), ZERO)
    rate = vat_rate_for(locked.tenant)
    if rate != locked.vat_rate:
        raise ConflictError(
            _(
                "The VAT rate of %(tenant)s changed since this draft was built (%(old)s %% then, "
                "%(new)s %% now): rebuild the draft and review it again."
            )
            % {"tenant": locked.tenant.name, "old": locked.vat_rate, "new": rate},
            state=locked.status,
        )
    if (len(lines), total) != (locked.line_count, locked.total) or (
        digest is not None and digest != lines_digest(lines)
    ):
        raise ConflictError(
            _(
                "The usage ledger changed since this draft was built or reviewed (now %(lines)s "
                "lines, %(total)s %(currency)s): rebuild the draft and review it again."
            )
            % {"lines": len(lines), "total": total, "currency": locked.currency},
            state=locked.status,
        )
    _insert_lines((locked.pk, i, *line.values()) for i, line in enumerate(lines, start=1))
    _issue(locked, issued_by, locked.tenant)
    audit_record(
        actor=issued_by,
        action="invoice.issue",
        obj=locked,
        tenant=locked.tenant,
        remote_addr=remote_addr,
        changes={
            "number": locked.number,
            "total": locked.total,
            "vat": locked.vat_amount,
            "lines": len(lines),
        },
    )
    return locked


@transaction.atomic
def invoice_credit(
    *,
    credited_by: User,
    invoice: Invoice,
    redraft: bool = False,
    remote_addr: str | None = None,
) -> tuple[Invoice, Invoice | None]:
    """Issue a credit note reversing every line of an issued invoice; with `redraft`, build a
    fresh draft of the same month from the ledger as it is now. Returns (credit note, draft)."""
    require_platform_perm(credited_by, Perm.INVOICE_MANAGE)
    locked = _lock(invoice)
    if locked.kind != InvoiceKind.INVOICE:
        raise ConflictError(_("A credit note cannot itself be credited."), state=locked.status)
    if locked.status != InvoiceStatus.ISSUED:
        raise ConflictError(
            _("Only an issued invoice is credited; a draft can simply be rebuilt."),
            state=locked.status,
        )
    previous = locked.credit_notes.values_list("number", flat=True).first()
    if previous is not None:
        raise ConflictError(
            _("This invoice is already credited by %(number)s.") % {"number": previous},
            state=locked.status,
        )
    note = Invoice.objects.create(
        tenant=locked.tenant,
        tenant_name=locked.tenant_name,
        year=locked.year,
        month=locked.month,
        timezone=locked.timezone,
        period_start=locked.period_start,
        period_end=locked.period_end,
        currency=locked.currency,
        kind=InvoiceKind.CREDIT_NOTE,
        corrects=locked,
        total=ZERO - locked.total,
        vat_rate=locked.vat_rate,
        vat_amount=ZERO - locked.vat_amount,
        line_count=locked.line_count,
        drafted_by=credited_by,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=note,
            sort_key=line.sort_key,
            **{
                name: getattr(line, name)
                for name in LINE_FIELDS
                if name not in ("seconds", "amount")
            },
            seconds=Decimal(0) - line.seconds,
            amount=ZERO - line.amount,
        )
        for line in invoice_lines(locked)
    )
    _issue(note, credited_by, locked.tenant)
    audit_record(
        actor=credited_by,
        action="invoice.credit_note",
        obj=note,
        tenant=locked.tenant,
        remote_addr=remote_addr,
        changes={
            "corrects": locked.number,
            "number": note.number,
            "total": note.total,
            "vat": note.vat_amount,
        },
    )
    draft = None
    if redraft:
        draft, _changed = invoice_draft(
            drafted_by=credited_by,
            tenant=locked.tenant,
            year=locked.year,
            month=locked.month,
            remote_addr=remote_addr,
        )
    return note, draft
