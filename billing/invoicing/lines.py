"""An invoice's lines before they are stored: a draft's, computed from the ledger when shown.

A draft is a pure function of the ledger, the price lists and the tenant's month, so it stores
only its header; its lines come from `billing.rating.lines.billable_lines`, the engine its header
came from, the same lines in the same order every time.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import translation

from billing.choices import RESOURCE_UNITS, Resource
from billing.models import Invoice, InvoiceLine
from billing.rating.lines import billable_lines
from billing.rating.python import UsageLine, VMNames
from compute.models import Flavor


@dataclass(frozen=True)
class DraftLine:
    """An invoice line before it is stored; its fields in InvoiceLine's column order."""

    vm_id: int | None
    vm_name: str
    environment_name: str
    resource: str
    unit: str
    flavor_name: str
    quantity: Decimal
    price_list_id: int | None
    unit_price: Decimal | None
    seconds: Decimal
    start: datetime
    end: datetime
    amount: Decimal
    description: str

    def values(self) -> tuple[object, ...]:
        # dataclasses.astuple deep-copies every field: ten times slower, on every line.
        return tuple(getattr(self, name) for name in LINE_FIELDS)


LINE_FIELDS = tuple(DraftLine.__dataclass_fields__)


def lines_digest(lines: list[DraftLine]) -> str:
    """A digest of a draft's lines, in order: equal lines give an equal digest. The draft page
    sends it with "issue", so that what is issued is exactly what was reviewed."""
    h = hashlib.sha256()
    for line in lines:
        h.update("\x1f".join(map(repr, line.values())).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def as_draft_lines(lines: Iterable[InvoiceLine]) -> list[DraftLine]:
    """Lines as `invoice_lines` gives them, back as draft lines (to digest what is shown)."""
    return [DraftLine(**{name: getattr(line, name) for name in LINE_FIELDS}) for line in lines]


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _draft_line(
    names: VMNames, line: UsageLine, labels: dict[str, str], flavors: dict[int, str]
) -> DraftLine:
    flavor_name = flavors.get(line.flavor_id, "") if line.flavor_id is not None else ""
    what = labels[line.resource]
    if line.resource == Resource.FLAVOR:
        what = f"{what} {flavor_name}"
    quantity = f"{_plain_number(line.quantity)} {RESOURCE_UNITS[line.resource]}"
    return DraftLine(
        vm_id=line.vm_id or None,  # 0: a data volume's line
        vm_name=names.vm,
        environment_name=names.environment,
        resource=line.resource,
        unit=RESOURCE_UNITS[line.resource],
        flavor_name=flavor_name,
        quantity=line.quantity,
        price_list_id=line.price_list_id,
        unit_price=line.unit_price,
        seconds=line.seconds,
        start=line.start,
        end=line.end,
        amount=line.amount,
        description=f"{names.vm} ({names.environment}): {what}, {quantity}"[:300],
    )


def draft_lines_by_tenant(
    tenant_ids: Iterable[int], *, start: datetime, end: datetime
) -> dict[int, list[DraftLine]]:
    """Billable lines (a price list covered them) per tenant."""
    flavors = dict(Flavor.objects.values_list("pk", "name"))
    out: dict[int, list[DraftLine]] = defaultdict(list)
    # Descriptions are stored, so they are written in one language whoever drafts.
    with translation.override(settings.LANGUAGE_CODE):
        labels = {value: str(label) for value, label in Resource.choices}
        for names, lines in billable_lines(list(tenant_ids), start=start, end=end):
            for line in lines:
                out[line.tenant_id].append(_draft_line(names, line, labels, flavors))
    return out


def draft_lines(invoice: Invoice) -> list[DraftLine]:
    """The lines of a draft as the ledger gives them now, in order (a draft stores none)."""
    lines = draft_lines_by_tenant(
        [invoice.tenant_id], start=invoice.period_start, end=invoice.period_end
    )
    return lines.get(invoice.tenant_id, [])
