"""Invoice and credit-note numbers: two gapless yearly series (NU-2026-000001 for invoices,
CN-2026-000001 for credit notes), each allocated in the issuing transaction."""

from __future__ import annotations

from billing.choices import InvoiceKind
from billing.models import NumberSequence

PREFIXES = {InvoiceKind.INVOICE: "NU", InvoiceKind.CREDIT_NOTE: "CN"}
NUMBER_PREFIX = PREFIXES[InvoiceKind.INVOICE]


def invoice_number_allocate(year: int, kind: str = InvoiceKind.INVOICE) -> str:
    """The next number of the series for the year, under its row lock: concurrent issues queue
    here, and a rolled-back issue gives its number back with the rest of its transaction."""
    series = InvoiceKind(kind)
    NumberSequence.objects.bulk_create(
        [NumberSequence(series=series, year=year)], ignore_conflicts=True
    )
    sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"{PREFIXES[series]}-{year:04d}-{sequence.last:06d}"
