"""The PDF documents: a report (any export table, landscape) and an invoice or credit note
(portrait, with both parties, VAT and totals).

Columns are sized from the text they hold, measured in the font they are drawn with: a column
is never narrower than its longest word (text columns wrap between words only) or than its
longest value (numbers and dates never wrap); the room left is shared by what would wrap. When
even the longest words do not fit the page, the type gets smaller rather than a word breaking.
ReportLab's invariant mode keeps the bytes a function of the content (no clock, fixed file id).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.tables import LongTable

FONT = "Helvetica"
BOLD = "Helvetica-Bold"
PAD = 4.0  # points each side of a cell's text
SLACK = 0.6  # points: measured widths are exact, rounding in the layout is not
MIN_SIZE = 5.0
FRAME_PADDING = 6.0  # SimpleDocTemplate's frame, each side
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#5f6b7a")
RULE = colors.HexColor("#c5ccd6")
HEAD = colors.HexColor("#e9edf3")
ZEBRA = colors.HexColor("#f6f8fa")
WRAPPING = frozenset({"text"})
RIGHT = frozenset({"int", "number", "money", "rate"})


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]
    strong: bool = False


def _width(text: str, font: str, size: float) -> float:
    return float(stringWidth(text, font, size))


def _longest_word(text: str, font: str, size: float) -> float:
    return max((_width(word, font, size) for word in text.split()), default=0.0)


def fit_columns(
    header: Sequence[str],
    kinds: Sequence[str],
    rows: Sequence[Row],
    available: float,
    size: float,
) -> tuple[list[float], float]:
    """Column widths (points) that fill `available`, and the font size they need.

    Each column gets at least its longest word (text) or value (anything else) and at most
    what its longest line would take unwrapped; the room in between goes to the columns that
    would wrap, in proportion to what they lack."""
    while True:
        least: list[float] = []
        most: list[float] = []
        for j, kind in enumerate(kinds):
            wraps = kind in WRAPPING
            lo = _longest_word(header[j], BOLD, size)
            hi = _width(header[j], BOLD, size)
            for row in rows:
                text = row.cells[j]
                if not text:
                    continue
                font = BOLD if row.strong else FONT
                full = _width(text, font, size)
                hi = max(hi, full)
                lo = max(lo, _longest_word(text, font, size) if wraps else full)
            extra = 2 * PAD + SLACK
            least.append(lo + extra)
            most.append(max(hi, lo) + extra)
        need = sum(least)
        if need <= available or size <= MIN_SIZE:
            break
        size = max(MIN_SIZE, round(size * available / need - 0.05, 1))
    room = available - sum(least)
    want = sum(m - lo for m, lo in zip(most, least, strict=True))
    if room <= 0 or want <= 0:
        widths = _spread(least, kinds, max(room, 0.0))
    elif want <= room:  # everything fits unwrapped: the rest goes to the text columns
        widths = _spread(most, kinds, room - want)
    else:
        widths = _balanced(least, most, available)
    return widths, size


def _balanced(least: list[float], most: list[float], available: float) -> list[float]:
    """Widths w = max(least, t * most) with t chosen to fill `available`: every wrapping
    column then takes about the same number of lines (1 / t), so no row grows tall because
    one column was starved while another had room."""
    lo, hi = 0.0, 1.0
    for _step in range(40):
        t = (lo + hi) / 2
        if sum(max(a, t * b) for a, b in zip(least, most, strict=True)) > available:
            hi = t
        else:
            lo = t
    widths = [max(a, lo * b) for a, b in zip(least, most, strict=True)]
    spare = available - sum(widths)  # what bisection left over: to the widest column
    widths[widths.index(max(widths))] += max(spare, 0.0)
    return widths


def _spread(widths: list[float], kinds: Sequence[str], spare: float) -> list[float]:
    """Share `spare` points among the text columns (numbers stay snug against their label)."""
    texts = [j for j, kind in enumerate(kinds) if kind in WRAPPING] or list(range(len(kinds)))
    return [w + (spare / len(texts) if j in texts else 0.0) for j, w in enumerate(widths)]


def _styles(size: float) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    plain = ParagraphStyle(
        "nuage-cell", fontName=FONT, fontSize=size, leading=size * 1.25, textColor=INK
    )
    strong = ParagraphStyle("nuage-cell-strong", parent=plain, fontName=BOLD)
    right = ParagraphStyle("nuage-cell-right", parent=plain, alignment=TA_RIGHT)
    return plain, strong, right


def _grid(
    header: Sequence[str],
    kinds: Sequence[str],
    rows: Sequence[Row],
    available: float,
    size: float,
) -> PdfTable:
    widths, size = fit_columns(header, kinds, rows, available, size)
    plain, strong, _right = _styles(size)
    head_style = ParagraphStyle("nuage-head", parent=strong, textColor=INK)
    head_right = ParagraphStyle("nuage-head-right", parent=head_style, alignment=TA_RIGHT)

    room = [w - 2 * PAD - SLACK for w in widths]

    def cell(text: str, j: int, kind: str, bold: bool) -> Any:
        # A paragraph only for text that must wrap: measuring and breaking lines is most of
        # the time a long report takes, and most cells fit on one line.
        if kind in WRAPPING and _width(text, BOLD if bold else FONT, size) > room[j]:
            return Paragraph(escape(text), strong if bold else plain)
        return text  # one line, drawn with the row's font (TableStyle below)

    data: list[list[Any]] = [
        [
            Paragraph(escape(label), head_right if kind in RIGHT else head_style)
            for label, kind in zip(header, kinds, strict=True)
        ]
    ]
    data += [
        [
            cell(text, j, kind, row.strong)
            for j, (text, kind) in enumerate(zip(row.cells, kinds, strict=True))
        ]
        for row in rows
    ]
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), FONT, size, size * 1.25),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
    ]
    for j, kind in enumerate(kinds):
        if kind in RIGHT:
            style.append(("ALIGN", (j, 1), (j, -1), "RIGHT"))
    for i, row in enumerate(rows, start=1):
        if row.strong:
            style += [
                ("FONT", (0, i), (-1, i), BOLD, size, size * 1.25),
                ("LINEABOVE", (0, i), (-1, i), 0.6, INK),
                ("BACKGROUND", (0, i), (-1, i), colors.white),
            ]
    # LongTable: splitting a long table page by page stays linear in its rows.
    grid = LongTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(TableStyle(style))
    return grid


def _numbered(footer: str) -> type[pdfcanvas.Canvas]:
    """A canvas that writes "footer — page n of m" on every page once the count is known."""

    class NumberedCanvas(pdfcanvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - ReportLab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            count = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                width, _height = self._pagesize
                self.setFont(FONT, 7)
                self.setFillColor(MUTED)
                text = _("Page %(page)s of %(pages)s") % {"page": number, "pages": count}
                self.drawString(12 * mm, 7 * mm, footer)
                self.drawRightString(width - 12 * mm, 7 * mm, text)
                super().showPage()
            super().save()

    return NumberedCanvas


def _document(out: io.BytesIO, title: str, pagesize: tuple[float, float]) -> SimpleDocTemplate:
    """Margins of 12 mm (ReportLab's frame pads 6 points more: see `_room`)."""
    return SimpleDocTemplate(
        out,
        pagesize=pagesize,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="Nuage",
        creator="Nuage",
        producer="Nuage",
        subject=title,
        invariant=1,
    )


def _room(document: SimpleDocTemplate) -> float:
    """The width a flowable gets: the page between the margins less the frame's own padding."""
    return float(document.width) - 2 * FRAME_PADDING


def _facts(pairs: Sequence[tuple[str, str]], size: float = 8) -> PdfTable:
    plain, strong, _right = _styles(size)
    data = [
        [Paragraph(escape(label), strong), Paragraph(escape(value), plain)]
        for label, value in pairs
    ]
    label_width = max((_width(label, BOLD, size) for label, _v in pairs), default=0) + 2 * PAD + 1
    table = PdfTable(data, colWidths=[label_width, 110 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), PAD * 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _summary(pairs: Sequence[tuple[str, str]], size: float = 9) -> PdfTable:
    """Label and amount pairs, right-aligned, the last one strong: the document's totals."""
    _plain, strong, right = _styles(size)
    right_strong = ParagraphStyle("nuage-sum-strong", parent=right, fontName=BOLD)
    data = []
    for i, (label, value) in enumerate(pairs):
        last = i == len(pairs) - 1
        data.append(
            [
                Paragraph(escape(label), right_strong if last else right),
                Paragraph(escape(value), right_strong if last else right),
            ]
        )
    label_width = max(_width(label, BOLD, size) for label, _v in pairs) + 2 * PAD + 1
    value_width = max(_width(value, BOLD, size) for _l, value in pairs) + 2 * PAD + 1
    table = PdfTable(data, colWidths=[label_width, max(value_width, 28 * mm)], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (-1, -1), PAD),
                ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
            ]
        )
    )
    return table


def report_pdf(
    *,
    title: str,
    facts: Sequence[tuple[str, str]],
    header: Sequence[str],
    kinds: Sequence[str],
    rows: Sequence[Row],
    summary: Sequence[tuple[str, str]],
) -> bytes:
    """Any table on landscape A4: facts, the grid (header repeated on every page), then the
    totals kept together at the end, on the last page."""
    out = io.BytesIO()
    pagesize = landscape(A4)
    document = _document(out, title, pagesize)
    heading = ParagraphStyle("nuage-title", fontName=BOLD, fontSize=14, leading=18, textColor=INK)
    story: list[Any] = [Paragraph(escape(title), heading), Spacer(1, 2 * mm)]
    if facts:
        story += [_facts(facts), Spacer(1, 4 * mm)]
    story.append(_grid(header, kinds, rows, _room(document), 7.5))
    story.append(Spacer(1, 4 * mm))
    story.append(KeepTogether([_summary(summary)]))
    document.build(story, canvasmaker=_numbered(title))
    return out.getvalue()


@dataclass(frozen=True)
class Party:
    """An issuer or a customer as printed: a name in bold, then the lines under it."""

    heading: str
    name: str
    lines: Sequence[str]


@dataclass(frozen=True)
class InvoiceDocument:
    title: str  # "Invoice NU-2026-000001", "Credit note …", "Draft invoice"
    footer: str
    issuer: Party
    customer: Party
    facts: Sequence[tuple[str, str]]  # number, dates, period, reference
    notice: str  # a draft's warning, a credit note's reference; may be empty
    header: Sequence[str]
    kinds: Sequence[str]
    rows: Sequence[Row]
    totals: Sequence[tuple[str, str]]
    terms: Sequence[str]  # payment terms and bank details under the totals


def _party(party: Party, width: float) -> list[Any]:
    label = ParagraphStyle(
        "nuage-party-label", fontName=BOLD, fontSize=7, leading=9, textColor=MUTED
    )
    name = ParagraphStyle("nuage-party-name", fontName=BOLD, fontSize=10, leading=13)
    line = ParagraphStyle("nuage-party-line", fontName=FONT, fontSize=8.5, leading=11)
    flow: list[Any] = [Paragraph(escape(party.heading.upper()), label)]
    flow.append(Paragraph(escape(party.name), name))
    flow += [Paragraph(escape(text), line) for text in party.lines if text]
    return flow


def invoice_pdf(doc: InvoiceDocument) -> bytes:
    """An invoice or credit note on portrait A4: issuer and document facts side by side, the
    customer, the lines with their VAT, then the totals and payment terms on the last page."""
    out = io.BytesIO()
    document = _document(out, doc.title, A4)
    width = _room(document)
    heading = ParagraphStyle("nuage-doc-title", fontName=BOLD, fontSize=18, leading=22)
    half = width / 2 - 3 * mm
    facts = _facts(doc.facts, size=8.5)
    top = PdfTable(
        [
            [
                _party(doc.issuer, half),
                [Paragraph(escape(doc.title), heading), Spacer(1, 2 * mm), facts],
            ]
        ],
        colWidths=[half + 6 * mm, half],
    )
    top.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    customer = PdfTable([[_party(doc.customer, half)]], colWidths=[half], hAlign="LEFT")
    customer.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    story: list[Any] = [top, Spacer(1, 7 * mm), customer, Spacer(1, 6 * mm)]
    if doc.notice:
        notice = ParagraphStyle(
            "nuage-notice",
            fontName=BOLD,
            fontSize=9,
            leading=12,
            textColor=colors.HexColor("#9a3412"),
        )
        story += [Paragraph(escape(doc.notice), notice), Spacer(1, 3 * mm)]
    story.append(_grid(doc.header, doc.kinds, doc.rows, width, 7.5))
    story.append(Spacer(1, 5 * mm))
    closing: list[Any] = [_summary(doc.totals, size=9.5)]
    if doc.terms:
        terms = ParagraphStyle(
            "nuage-terms", fontName=FONT, fontSize=8, leading=11, textColor=MUTED
        )
        closing.append(Spacer(1, 6 * mm))
        closing += [Paragraph(escape(text), terms) for text in doc.terms]
    story.append(KeepTogether(closing))
    document.build(story, canvasmaker=_numbered(doc.footer))
    return out.getvalue()
