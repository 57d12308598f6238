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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
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
    kind: str = "text"  # text | number | money


@dataclass
class Table:
    """What every export writes: a title, a few "label: value" facts, columns, rows and a total
    of the money column. `rows` may be a generator; it is iterated once."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    money_column: int
    total_label: str
    facts: Sequence[tuple[str, str]] = field(default_factory=tuple)
    dated: datetime = EPOCH

    def total_row(self, total: Decimal) -> list[Any]:
        row: list[Any] = [""] * len(self.columns)
        row[0] = self.total_label
        row[self.money_column] = total
        return row


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# A text cell starting with one of these is a formula to a spreadsheet (a tenant named
# "=HYPERLINK(…)"): in CSV a leading quote defuses it, as the audit export does; in XLSX the cell
# is stored as text with Excel's quote prefix. Numbers (a credit note's -12.50) are not text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(value: Any) -> str:
    text = _text(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _summed(table: Table, totals: list[Decimal]) -> Iterator[Sequence[Any]]:
    """The rows, adding up the money column on the way into totals[0]."""
    index = table.money_column
    for row in table.rows:
        amount = row[index]
        if amount is not None:
            totals[0] += amount
        yield row


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
    for row in _summed(table, totals):
        size += writer.writerow([_defused(v) for v in row])
        if size >= _CSV_CHUNK:
            yield buffer.take().encode()
            size = 0
    writer.writerow([_defused(v) for v in table.total_row(totals[0])])
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
    """A one-sheet workbook (openpyxl's write-only mode: rows go straight to a temp file)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
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

    def cell(value: Any, kind: str = "text", strong: bool = False) -> WriteOnlyCell:
        if kind == "text" or not isinstance(value, Decimal):
            value = _text(value) if not isinstance(value, int | Decimal) else value
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            c.data_type = "s"  # never a formula (openpyxl makes "=…" one)
            c.quotePrefix = True
        if kind == "money" and isinstance(value, Decimal):
            c.number_format = "0.00"
        if strong:
            c.font = bold
        return c

    sheet.append([cell(table.title, strong=True)])
    for label, value in table.facts:
        sheet.append([cell(label, strong=True), cell(value)])
    sheet.append([])
    sheet.append([cell(c.label, strong=True) for c in table.columns])
    kinds = [c.kind for c in table.columns]
    totals = [Decimal("0.00")]
    for row in _summed(table, totals):
        sheet.append([cell(v, k) for v, k in zip(row, kinds, strict=True)])
    sheet.append(
        [cell(v, k, strong=True) for v, k in zip(table.total_row(totals[0]), kinds, strict=True)]
    )
    raw = io.BytesIO()
    # Workbook.save() would stamp `modified` with the clock; the writer itself does not.
    ExcelWriter(workbook, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _zip_fixed(raw.getvalue(), table.dated)


def _sheet_title(title: str) -> str:
    cleaned = "".join(ch for ch in title if ch not in "[]:*?/\\")
    return cleaned[:31] or "Nuage"


# PDF ------------------------------------------------------------------------------------------


def pdf_bytes(table: Table) -> bytes:
    """A landscape A4 document; ReportLab's invariant mode fixes its dates and file id."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("nuage-small", fontSize=7, leading=8.5)
    right = small.clone("nuage-small-right", alignment=2)  # TA_RIGHT
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=table.title,
        author="Nuage",
        creator="Nuage",
        producer="Nuage",
        subject=table.title,
        invariant=1,
    )

    def para(value: Any, kind: str = "text") -> Paragraph:
        return Paragraph(escape(_text(value)), small if kind == "text" else right)

    story: list[Any] = [Paragraph(escape(table.title), styles["Heading2"])]
    if table.facts:
        facts = PdfTable(
            [[para(label), para(value)] for label, value in table.facts],
            colWidths=[45 * mm, 120 * mm],
            hAlign="LEFT",
        )
        story += [facts, Spacer(1, 4 * mm)]
    totals = [Decimal("0.00")]
    kinds = [c.kind for c in table.columns]
    body: list[list[Any]] = [[para(c.label, c.kind) for c in table.columns]]
    body += [
        [para(v, k) for v, k in zip(row, kinds, strict=True)] for row in _summed(table, totals)
    ]
    body.append([para(v, k) for v, k in zip(table.total_row(totals[0]), kinds, strict=True)])
    grid = PdfTable(body, repeatRows=1, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
    ]
    grid.setStyle(TableStyle(style))
    story.append(grid)
    document.build(story)
    return out.getvalue()


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


# The two tables -------------------------------------------------------------------------------


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
    total is their sum, credit notes negative."""
    columns = [
        Column(_("Number")),
        Column(_("Kind")),
        Column(_("Status")),
        Column(_("Tenant")),
        Column(_("Period")),
        Column(_("Time zone")),
        Column(_("Issued")),
        Column(_("Lines"), "number"),
        Column(_("Total"), "money"),
    ]
    rows = (
        [
            invoice.number or _("(draft)"),
            str(invoice.get_kind_display()),
            str(invoice.get_status_display()),
            invoice.tenant_name,
            f"{invoice.year:04d}-{invoice.month:02d}",
            invoice.timezone,
            _text(invoice.issued_at),
            invoice.line_count,
            _money(invoice.total),
        ]
        for invoice in invoices
    )
    return Table(
        title=_("Invoices"),
        columns=columns,
        rows=rows,
        money_column=8,
        total_label=_("Total (%(currency)s)") % {"currency": currency},
        facts=[*facts, (_("Currency"), currency)],
    )


def invoice_table(invoice: Invoice, lines: Iterable[InvoiceLine]) -> Table:
    """An invoice's own fields and lines; nothing else, so a draft rebuilt unchanged exports
    the same bytes."""
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        title = _("Credit note %(number)s") % {"number": invoice.number or _("(draft)")}
    else:
        title = _("Invoice %(number)s") % {"number": invoice.number or _("(draft)")}
    facts = [
        (_("Tenant"), invoice.tenant_name),
        (_("Period"), f"{invoice.year:04d}-{invoice.month:02d} ({invoice.timezone})"),
        (_("From (UTC)"), _text(invoice.period_start)),
        (_("Until (UTC)"), _text(invoice.period_end)),
        (_("Currency"), invoice.currency),
        (_("Status"), str(invoice.get_status_display())),
    ]
    if invoice.issued_at is not None:
        facts.append((_("Issued"), _text(invoice.issued_at)))
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
            _money(line.amount),
        ]
        for line in lines
    )
    return Table(
        title=title,
        columns=columns,
        rows=rows,
        money_column=8,
        total_label=_("Total (%(currency)s)") % {"currency": invoice.currency},
        facts=facts,
        dated=invoice.issued_at or invoice.period_end,
    )


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


def usage_table(
    rows: Iterable[tuple[VMNames, UsageLine]],
    *,
    tenant_name: str | None,
    start: datetime,
    end: datetime,
    currency: str,
) -> Table:
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
        Column(_("From")),
        Column(_("Until")),
        Column(_("Amount"), "money"),
    ]
    body = (
        [
            names.tenant,
            names.vm,
            names.environment,
            labels[line.resource],
            _plain(line.quantity),
            RESOURCE_UNITS[line.resource],
            _plain(line.seconds),
            line.unit_price,
            line.start,
            line.end,
            line.amount,
        ]
        for names, line in rows
    )
    return Table(
        title=_("Usage"),
        columns=columns,
        rows=body,
        money_column=10,
        total_label=_("Total (%(currency)s)") % {"currency": currency},
        facts=[
            (_("Tenant"), tenant_name or _("All tenants")),
            (_("From (UTC)"), _text(start)),
            (_("Until (UTC)"), _text(end)),
            (_("Currency"), currency),
        ],
    )
