"""Invoice numbers: gapless and yearly (NU-2026-000001), allocated in the issuing transaction."""

from __future__ import annotations

from billing.models import InvoiceNumberSequence

NUMBER_PREFIX = "NU"


def invoice_number_allocate(year: int) -> str:
    """The next number of the year, under the year's row lock: concurrent issues queue here,
    and a rolled-back issue gives its number back with the rest of its transaction."""
    InvoiceNumberSequence.objects.bulk_create(
        [InvoiceNumberSequence(year=year)], ignore_conflicts=True
    )
    sequence = InvoiceNumberSequence.objects.select_for_update().get(year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"{NUMBER_PREFIX}-{year:04d}-{sequence.last:06d}"
