"""Reads of invoices, scoped to the requesting user: the list, a tenant filter, the lines."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.choices import InvoiceStatus
from billing.invoicing.lines import LINE_FIELDS, draft_lines
from billing.models import Invoice, InvoiceLine
from portal.models import Tenant, User
from portal.permissions import Perm


def invoice_list(*, fetched_by: User) -> QuerySet[Invoice]:
    """Finance and platform admins see every invoice; tenant admins their tenants'; others none."""
    return Invoice.objects.visible_to(fetched_by, Perm.INVOICE_VIEW).select_related(
        "tenant", "corrects"
    )


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    """An issued invoice's stored lines; a draft's computed from the ledger now (unsaved)."""
    if invoice.status == InvoiceStatus.DRAFT:
        return [
            InvoiceLine(
                invoice=invoice, sort_key=i, **dict(zip(LINE_FIELDS, line.values(), strict=True))
            )
            for i, line in enumerate(draft_lines(invoice), start=1)
        ]
    return list(InvoiceLine.objects.unscoped().filter(invoice=invoice).order_by("sort_key"))


def invoice_tenant_choices(*, fetched_by: User) -> QuerySet[Tenant]:
    """The tenants whose invoices the user may filter on (those they see invoices of)."""
    return Tenant.objects.visible_to(fetched_by, Perm.INVOICE_VIEW)
