"""CSV, XLSX and PDF writers over one table shape (header, rows, a total), and the tables Nuage
exports: an invoice, a list of invoices (the register) and a usage report.

Every writer is deterministic: the same table gives the same bytes (no generation time inside;
the XLSX and PDF document dates are the table's own `issued` instant). CSV is streamed row by
row in constant memory; the total is summed as the rows go by, so it is always the sum of the
lines shown.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from billing.choices import RESOURCE_UNITS, InvoiceKind, Resource
from billing.models import Invoice, InvoiceLine
from billing.rating.python import UsageLine, VMNames

FORMATS = ("csv", "xlsx", "pdf")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
# A fixed instant for documents that have none of their own (drafts, usage reports).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CSV_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Column:
    label: str
    # text | int | number | money | rate | datetime: how a spreadsheet stores and formats it,
    # and whether the PDF may wrap it (text only, at spaces).
    kind: str = "text"


# Excel number formats by column kind: numbers stay numbers, dates real dates.
NUMBER_FORMATS = {
    "int": "#,##0",
    "number": "#,##0.00####",
    "money": "#,##0.00",
    "rate": "0.00",
    "datetime": "yyyy-mm-dd hh:mm",
    "date": "yyyy-mm-dd",
}


def _human_formats() -> tuple[str, str]:
    """What a person reads in a PDF, per language (Django date formats, translated):
    1 Oct 2025, 00:00 in English, 1 oct. 2025, 00:00 in French."""
    # Translators: a Django date format (https://docs.djangoproject.com/en/stable/ref/templates/builtins/#date)
    return _("j M Y, H:i"), _("j M Y")


@dataclass
class Table:
    """What every export writes: a title, a few "label: value" facts, columns, rows and a total
    of the money column. `rows` may be a generator; it is iterated once.

    With `group_column`, rows come sorted by that column and each group is followed by its
    subtotal row. `footer` rows (label, amount) follow the total (an invoice's VAT and total
    with VAT). Instants are shown in `zone`."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    money_column: int
    total_label: str
    facts: Sequence[tuple[str, Any]] = field(default_factory=tuple)
    dated: datetime = EPOCH
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    group_column: int | None = None
    subtotal_label: str = ""
    footer: Sequence[tuple[str, Decimal]] = field(default_factory=tuple)

    def total_row(self, total: Decimal, label: str | None = None) -> list[Any]:
        row: list[Any] = [""] * len(self.columns)
        row[0] = self.total_label if label is None else label
        row[self.money_column] = total
        return row

    def kinds(self) -> list[str]:
        return [c.kind for c in self.columns]


def _text(value: Any) -> str:
    """Machine-readable text (CSV): instants in ISO 8601 UTC, decimals in full."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _human(value: Any, zone: ZoneInfo) -> str:
    """What a person reads (PDF): dates in words in the table's zone, numbers grouped."""
    if isinstance(value, datetime):
        return date_format(value.astimezone(zone), _human_formats()[0])
    if isinstance(value, date):
        return date_format(value, _human_formats()[1])
    if isinstance(value, Decimal):
        return number_format(value, force_grouping=True)
    if isinstance(value, int) and not isinstance(value, bool):
        return number_format(value, force_grouping=True)
    return _text(value)


# A text cell starting with one of these is a formula to a spreadsheet (a tenant named
# "=HYPERLINK(…)"): in CSV a leading quote defuses it, as the audit export does; in XLSX the cell
# is stored as text with Excel's quote prefix. Numbers (a credit note's -12.50) are not text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(value: Any) -> str:
    text = _text(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _summed(table: Table, totals: list[Decimal]) -> Iterator[tuple[Sequence[Any], bool]]:
    """The rows, adding up the money column on the way into totals[0]; with a group column,
    each group's subtotal row after it. Yields (row, is_subtotal)."""
    index = table.money_column
    group = table.group_column
    current: Any = None
    subtotal = Decimal("0.00")
    started = False
    for row in table.rows:
        if group is not None:
            key = row[group]
            if started and key != current:
                yield _subtotal_row(table, current, subtotal), True
                subtotal = Decimal("0.00")
            current, started = key, True
        amount = row[index]
        if amount is not None:
            totals[0] += amount
            subtotal += amount
        yield row, False
    if group is not None and started:
        yield _subtotal_row(table, current, subtotal), True


def _subtotal_row(table: Table, key: Any, amount: Decimal) -> list[Any]:
    row = table.total_row(amount, label=table.subtotal_label)
    assert table.group_column is not None
    if table.group_column != 0:
        row[table.group_column] = key
    else:
        row[0] = f"{table.subtotal_label} {key}"
    return row


# CSV ------------------------------------------------------------------------------------------


class _Buffer:
    """A file-like sink for csv.writer that hands back what was written (Django's pattern)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_chunks(table: Table) -> Iterator[bytes]:
    """The CSV (header, rows, total row), in chunks of about 64 KiB: never the whole file."""
    buffer = _Buffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_defused(c.label) for c in table.columns])
    totals = [Decimal("0.00")]
    size = 0
    for row, _subtotal in _summed(table, totals):
        size += writer.writerow([_defused(v) for v in row])
        if size >= _CSV_CHUNK:
            yield buffer.take().encode()
            size = 0
    writer.writerow([_defused(v) for v in table.total_row(totals[0])])
    for label, amount in table.footer:
        writer.writerow([_defused(v) for v in table.total_row(amount, label=label)])
    yield buffer.take().encode()


# XLSX -----------------------------------------------------------------------------------------


def _zip_fixed(data: bytes, when: datetime) -> bytes:
    """Rewrite a zip with every entry dated `when`: openpyxl stamps entries with the clock."""
    stamp = when.astimezone(UTC).timetuple()[:6]
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


def xlsx_bytes(table: Table) -> bytes:
    """A one-sheet workbook (openpyxl's write-only mode: rows go straight to a temp file).

    Amounts, quantities and counts are numeric cells with a number format, instants are date
    cells (in the table's zone, which a fact names): a spreadsheet sums and sorts them."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    naive = table.dated.astimezone(UTC).replace(tzinfo=None)
    workbook.properties.created = naive
    workbook.properties.modified = naive
    workbook.properties.creator = "Nuage"
    workbook.properties.lastModifiedBy = "Nuage"
    workbook.properties.title = table.title
    sheet = workbook.create_sheet(title=_sheet_title(table.title))
    bold = Font(bold=True)
    zone = table.zone

    def cell(value: Any, kind: str = "text", strong: bool = False) -> WriteOnlyCell:
        number_format = None
        if isinstance(value, datetime):
            # Excel has no time zones: the wall-clock time in the table's zone.
            value = value.astimezone(zone).replace(tzinfo=None)
            number_format = NUMBER_FORMATS["datetime"]
        elif isinstance(value, date):
            number_format = NUMBER_FORMATS["date"]
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            number_format = NUMBER_FORMATS.get(kind, NUMBER_FORMATS["number"])
            if kind == "text":
                number_format = None
        else:
            value = _text(value)
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            c.data_type = "s"  # never a formula (openpyxl makes "=…" one)
            c.quotePrefix = True
        if number_format is not None:
            c.number_format = number_format
        if strong:
            c.font = bold
        return c

    for index, column in enumerate(table.columns, start=1):
        width = {"datetime": 17, "money": 14, "number": 14, "int": 10, "rate": 8}.get(
            column.kind, 18
        )
        sheet.column_dimensions[get_column_letter(index)].width = max(width, len(column.label) + 2)
    sheet.append([cell(table.title, strong=True)])
    for label, value in table.facts:
        sheet.append([cell(label, strong=True), cell(value)])
    sheet.append([])
    sheet.append([cell(c.label, strong=True) for c in table.columns])
    kinds = table.kinds()
    totals = [Decimal("0.00")]
    for row, subtotal in _summed(table, totals):
        sheet.append([cell(v, k, strong=subtotal) for v, k in zip(row, kinds, strict=True)])
    sheet.append(
        [cell(v, k, strong=True) for v, k in zip(table.total_row(totals[0]), kinds, strict=True)]
    )
    for label, amount in table.footer:
        row = table.total_row(amount, label=label)
        sheet.append([cell(v, k, strong=True) for v, k in zip(row, kinds, strict=True)])
    raw = io.BytesIO()
    # Workbook.save() would stamp `modified` with the clock; the writer itself does not.
    ExcelWriter(workbook, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _zip_fixed(raw.getvalue(), table.dated)


def _sheet_title(title: str) -> str:
    cleaned = "".join(ch for ch in title if ch not in "[]:*?/\\")
    return cleaned[:31] or "Nuage"


# PDF ------------------------------------------------------------------------------------------


def pdf_bytes(table: Table) -> bytes:
    """A landscape A4 document (billing/pdf.py): columns sized to their words, never splitting
    one; the total, the subtotals and the footer on the last page; "page n of m" below."""
    from billing import pdf

    totals = [Decimal("0.00")]
    zone = table.zone
    kinds = table.kinds()
    body: list[pdf.Row] = []
    subtotals: list[tuple[str, str]] = []
    for row, subtotal in _summed(table, totals):
        cells = [_human(v, zone) for v in row]
        body.append(pdf.Row(cells, strong=subtotal))
        if subtotal:
            subtotals.append((cells[0], cells[table.money_column]))
    body.append(pdf.Row([_human(v, zone) for v in table.total_row(totals[0])], strong=True))
    for label, amount in table.footer:
        body.append(
            pdf.Row([_human(v, zone) for v in table.total_row(amount, label=label)], strong=True)
        )
    # The last page sums it all up: each group's subtotal, the total, then the footer.
    summary = [*subtotals, (table.total_label, _human(totals[0], zone))] + [
        (label, _human(amount, zone)) for label, amount in table.footer
    ]
    return pdf.report_pdf(
        title=table.title,
        facts=[(label, _human(value, zone)) for label, value in table.facts],
        header=[c.label for c in table.columns],
        kinds=kinds,
        rows=body,
        summary=summary,
    )


# Responses ------------------------------------------------------------------------------------

WRITERS: dict[str, Callable[[Table], bytes]] = {"xlsx": xlsx_bytes, "pdf": pdf_bytes}


def export_response(table: Table, *, fmt: str, filename: str) -> HttpResponseBase:
    """The download: CSV streamed (StreamingHttpResponse), XLSX and PDF built in memory."""
    name = f"{filename}.{fmt}"
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(table), content_type=CONTENT_TYPES["csv"])
    else:
        response = HttpResponse(WRITERS[fmt](table), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# The tables -----------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros or an exponent: 2.0000000000 -> 2, 0.5000 -> 0.5."""
    n = value.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


def invoice_filename(invoice: Invoice) -> str:
    kind = "credit-note" if invoice.kind == InvoiceKind.CREDIT_NOTE else "invoice"
    if invoice.number:
        return f"nuage-{kind}-{invoice.number}"
    return f"nuage-{kind}-draft-{invoice.tenant.slug}-{invoice.year:04d}-{invoice.month:02d}"


def invoice_register_table(
    invoices: Iterable[Invoice], *, currency: str, facts: Sequence[tuple[str, str]] = ()
) -> Table:
    """A list of invoices and credit notes, one row each (a month's register for finance); the
    total is their sum before VAT, credit notes negative."""
    columns = [
        Column(_("Number")),
        Column(_("Kind")),
        Column(_("Status")),
        Column(_("Tenant")),
        Column(_("Period")),
        Column(_("Time zone")),
        Column(_("Issued"), "datetime"),
        Column(_("Due"), "datetime"),
        Column(_("VAT rate (%)"), "rate"),
        Column(_("VAT"), "money"),
        Column(_("Total with VAT"), "money"),
        Column(_("Lines"), "int"),
        Column(_("Net total"), "money"),
    ]
    rows = (
        [
            invoice.number or _("(draft)"),
            str(invoice.get_kind_display()),
            str(invoice.get_status_display()),
            invoice.tenant_name,
            f"{invoice.year:04d}-{invoice.month:02d}",
            invoice.timezone,
            invoice.issued_at,
            invoice.due_date,
            invoice.vat_rate,
            _money(invoice.vat_amount),
            _money(invoice.total_with_vat),
            invoice.line_count,
            _money(invoice.total),
        ]
        for invoice in invoices
    )
    return Table(
        title=_("Invoices"),
        columns=columns,
        rows=rows,
        money_column=12,
        total_label=_("Total (%(currency)s)") % {"currency": currency},
        facts=[*facts, (_("Currency"), currency)],
    )


def _vat_label(rate: Decimal, currency: str) -> str:
    return _("VAT %(rate)s %% (%(currency)s)") % {"rate": number_format(rate), "currency": currency}


def _with_vat(invoice: Invoice, lines: Iterable[InvoiceLine]) -> list[tuple[InvoiceLine, Decimal]]:
    from billing.invoicing.vat import vat_split

    kept = list(lines)
    return list(zip(kept, vat_split([line.amount for line in kept], invoice.vat_rate), strict=True))


def _invoice_title(invoice: Invoice) -> str:
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return _("Credit note %(number)s") % {"number": invoice.number or _("(draft)")}
    return _("Invoice %(number)s") % {"number": invoice.number or _("(draft)")}


def invoice_table(invoice: Invoice, lines: Iterable[InvoiceLine]) -> Table:
    """An invoice's own fields and lines, each with its share of the VAT; nothing else, so a
    draft rebuilt unchanged exports the same bytes."""
    zone = ZoneInfo(invoice.timezone)
    facts: list[tuple[str, Any]] = [
        (_("Tenant"), invoice.tenant_name),
        (_("Period"), f"{invoice.year:04d}-{invoice.month:02d} ({invoice.timezone})"),
        (_("Period start"), invoice.period_start),
        (_("Period end"), invoice.period_end),
        (_("Currency"), invoice.currency),
        (_("Status"), str(invoice.get_status_display())),
        (_("VAT rate (%)"), invoice.vat_rate),
    ]
    if invoice.issued_at is not None:
        facts.append((_("Issued"), invoice.issued_at))
    if invoice.due_date is not None:
        facts.append((_("Due"), invoice.due_date))
    if invoice.corrects_id is not None and invoice.corrects is not None:
        facts.append((_("Corrects"), invoice.corrects.number or ""))
    labels = {value: str(label) for value, label in Resource.choices}
    columns = [
        Column(_("Description")),
        Column(_("VM")),
        Column(_("Environment")),
        Column(_("Resource")),
        Column(_("Quantity"), "number"),
        Column(_("Unit")),
        Column(_("Seconds"), "number"),
        Column(_("Unit price per hour"), "number"),
        Column(_("VAT rate (%)"), "rate"),
        Column(_("VAT"), "money"),
        Column(_("Amount"), "money"),
    ]
    rows = (
        [
            line.description,
            line.vm_name,
            line.environment_name,
            labels.get(line.resource, line.resource),
            _plain(line.quantity),
            line.unit,
            _plain(line.seconds),
            line.unit_price,
            invoice.vat_rate,
            vat,
            _money(line.amount),
        ]
        for line, vat in _with_vat(invoice, lines)
    )
    return Table(
        title=_invoice_title(invoice),
        columns=columns,
        rows=rows,
        money_column=10,
        total_label=_("Total (%(currency)s)") % {"currency": invoice.currency},
        facts=facts,
        dated=invoice.issued_at or invoice.period_end,
        zone=zone,
        footer=[
            (_vat_label(invoice.vat_rate, invoice.currency), invoice.vat_amount),
            (
                _("Total with VAT (%(currency)s)") % {"currency": invoice.currency},
                invoice.total_with_vat,
            ),
        ],
    )


def _party_lines(details: dict[str, Any], *, customer: bool) -> list[str]:
    from billing.invoicing.parties import country_name

    lines = [str(line) for line in details.get("address", [])]
    if details.get("country"):
        lines.append(country_name(str(details["country"])))
    if details.get("vat_number"):
        lines.append(_("VAT number: %(number)s") % {"number": details["vat_number"]})
    if details.get("registration"):
        lines.append(str(details["registration"]))
    if details.get("email"):
        lines.append(str(details["email"]))
    if customer and details.get("cost_centre"):
        lines.append(_("Cost centre: %(centre)s") % {"centre": details["cost_centre"]})
    return lines


def _unit(unit: str) -> str:
    """A stored unit in the reader's language (GiB is Gio in French)."""
    labels = {"GiB": _("GiB"), "vCPU": _("vCPU"), "flavor": _("flavor")}
    return labels.get(unit, unit)


def invoice_pdf_bytes(invoice: Invoice, lines: Iterable[InvoiceLine]) -> bytes:
    """The invoice (or credit note) as a customer receives it: the parties as issued (a
    draft's as they are now), dates, lines with their VAT, totals and payment terms."""
    from billing import pdf
    from billing.invoicing.parties import customer_details, issuer_details

    zone = ZoneInfo(invoice.timezone)
    issuer = invoice.issuer or issuer_details()
    customer = invoice.customer or customer_details(invoice.tenant)
    if invoice.number:
        title = _invoice_title(invoice)
    else:
        title = _("Draft invoice")
    last_day = (invoice.period_end.astimezone(zone) - timedelta(microseconds=1)).date()
    first_day = invoice.period_start.astimezone(zone).date()
    facts: list[tuple[str, str]] = []
    if invoice.number:
        facts.append((_("Number"), invoice.number))
    if invoice.issued_at is not None:
        facts.append((_("Issue date"), _human(invoice.issued_at.astimezone(zone).date(), zone)))
    if invoice.due_date is not None:
        facts.append((_("Due date"), _human(invoice.due_date, zone)))
    facts.append(
        (
            _("Period"),
            _("%(first)s to %(last)s")
            % {"first": _human(first_day, zone), "last": _human(last_day, zone)},
        )
    )
    facts.append((_("Currency"), invoice.currency))
    notice = ""
    if invoice.kind == InvoiceKind.CREDIT_NOTE and invoice.corrects is not None:
        corrected = invoice.corrects
        facts.append((_("Corrects"), corrected.number or ""))
        notice = _(
            "This credit note cancels invoice %(number)s of %(date)s: its amounts are negative."
        ) % {
            "number": corrected.number,
            "date": _human(corrected.issued_at.astimezone(zone).date(), zone)
            if corrected.issued_at
            else "",
        }
    elif not invoice.number:
        notice = _("Draft: not an invoice yet; it gets its number when issued.")
    labels = {value: str(label) for value, label in Resource.choices}
    rows: list[pdf.Row] = []
    for line, vat in _with_vat(invoice, lines):
        what = labels.get(line.resource, line.resource)
        if line.flavor_name:
            what = f"{what} {line.flavor_name}"
        rows.append(
            pdf.Row(
                [
                    line.vm_name,
                    line.environment_name,
                    what,
                    f"{_human(_plain(line.quantity), zone)} {_unit(line.unit)}",
                    _human(line.hours, zone),
                    _human(_plain(line.unit_price), zone) if line.unit_price is not None else "",
                    _human(_money(line.amount), zone),
                    _human(invoice.vat_rate, zone),
                    _human(vat, zone),
                ]
            )
        )
    totals = [
        (
            _("Net total (%(currency)s)") % {"currency": invoice.currency},
            _human(invoice.total, zone),
        ),
        (_vat_label(invoice.vat_rate, invoice.currency), _human(invoice.vat_amount, zone)),
        (
            _("Total with VAT (%(currency)s)") % {"currency": invoice.currency},
            _human(invoice.total_with_vat, zone),
        ),
    ]
    terms: list[str] = []
    if invoice.due_date is not None:
        terms.append(
            _("Payment due by %(date)s, quoting %(number)s.")
            % {"date": _human(invoice.due_date, zone), "number": invoice.number}
        )
    if invoice.kind == InvoiceKind.INVOICE and issuer.get("bank"):
        terms.append(_("Bank details: %(bank)s") % {"bank": issuer["bank"]})
    if invoice.vat_rate == 0 and customer.get("vat_number"):
        terms.append(_("VAT reverse charge: the customer accounts for the VAT."))
    document = pdf.InvoiceDocument(
        title=title,
        footer=f"{issuer.get('name', '')} — {title}",
        issuer=pdf.Party(
            _("Issuer"), str(issuer.get("name", "")), _party_lines(issuer, customer=False)
        ),
        customer=pdf.Party(
            _("Bill to"), str(customer.get("name", "")), _party_lines(customer, customer=True)
        ),
        facts=facts,
        notice=notice,
        header=[
            _("VM"),
            _("Environment"),
            _("Resource"),
            _("Quantity"),
            _("Hours"),
            _("Unit price per hour"),
            _("Net amount"),
            _("VAT rate (%)"),
            _("VAT"),
        ],
        kinds=["text", "text", "text", "number", "number", "number", "money", "rate", "money"],
        rows=rows,
        totals=totals,
        terms=terms,
    )
    return pdf.invoice_pdf(document)


def invoice_export(invoice: Invoice, lines: Iterable[InvoiceLine], *, fmt: str) -> HttpResponseBase:
    """An invoice as a download: the customer's document in PDF, its table in CSV and XLSX."""
    filename = invoice_filename(invoice)
    if fmt == "pdf":
        response = HttpResponse(
            invoice_pdf_bytes(invoice, lines), content_type=CONTENT_TYPES["pdf"]
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
        return response
    return export_response(invoice_table(invoice, lines), fmt=fmt, filename=filename)


def usage_filename(tenant_slug: str | None, start: datetime, end: datetime) -> str:
    """`nuage-usage-<tenant|all>-2026-10` for a calendar month in UTC, else the two dates."""
    who = tenant_slug or "all"
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    whole_month = (
        s == s.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        and e == e.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        and (e.year * 12 + e.month) - (s.year * 12 + s.month) == 1
    )
    if whole_month:
        return f"nuage-usage-{who}-{s:%Y-%m}"
    return f"nuage-usage-{who}-{s:%Y%m%dT%H%M}-{e:%Y%m%dT%H%M}"


GROUPINGS = ("cost_centre",)


def _usage_row(names: VMNames, line: UsageLine, labels: dict[str, str]) -> list[Any]:
    return [
        names.tenant,
        names.vm,
        names.environment,
        labels[line.resource],
        _plain(line.quantity),
        RESOURCE_UNITS[line.resource],
        _plain(line.seconds),
        _plain(line.unit_price) if line.unit_price is not None else None,
        line.start,
        line.end,
        line.amount,
    ]


def usage_table(
    rows: Iterable[tuple[VMNames, UsageLine]],
    *,
    tenant_name: str | None,
    start: datetime,
    end: datetime,
    currency: str,
    zone: ZoneInfo | None = None,
    cost_centres: dict[int, str] | None = None,
) -> Table:
    """Usage lines as a table; instants shown in `zone` (the tenant's, else UTC). With
    `cost_centres` (tenant id -> centre), rows are grouped by cost centre, each group followed
    by its subtotal."""
    zone = zone or ZoneInfo("UTC")
    labels = {value: str(label) for value, label in Resource.choices}
    columns = [
        Column(_("Tenant")),
        Column(_("VM")),
        Column(_("Environment")),
        Column(_("Resource")),
        Column(_("Quantity"), "number"),
        Column(_("Unit")),
        Column(_("Seconds"), "number"),
        Column(_("Unit price per hour"), "number"),
        Column(_("Period start"), "datetime"),
        Column(_("Period end"), "datetime"),
        Column(_("Amount"), "money"),
    ]
    body: Iterable[list[Any]] = (_usage_row(names, line, labels) for names, line in rows)
    facts: list[tuple[str, Any]] = [
        (_("Tenant"), tenant_name or _("All tenants")),
        (_("Period start"), start),
        (_("Period end"), end),
        (_("Time zone"), str(zone.key)),
        (_("Currency"), currency),
    ]
    group_column = None
    if cost_centres is not None:
        none = _("(no cost centre)")
        # Sorted by centre, so the rows are read whole: a report is a month of one platform.
        keyed = [
            [cost_centres.get(line.tenant_id) or none, *_usage_row(names, line, labels)]
            for names, line in rows
        ]
        keyed.sort(key=lambda row: (row[0] == none, row[0], row[1]))
        body = keyed
        columns = [Column(_("Cost centre")), *columns]
        group_column = 0
        facts.append((_("Grouped by"), _("cost centre")))
    return Table(
        title=_("Usage"),
        columns=columns,
        rows=body,
        money_column=len(columns) - 1,
        total_label=_("Total (%(currency)s)") % {"currency": currency},
        facts=facts,
        zone=zone,
        group_column=group_column,
        subtotal_label=_("Subtotal"),
    )
