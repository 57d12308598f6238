"""Reads of invoices, scoped to the requesting user: the list, a tenant filter, the lines."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.choices import InvoiceStatus
from billing.invoicing.lines import LINE_FIELDS, draft_lines
from billing.models import Invoice, InvoiceLine
from portal.models import Membership, Tenant, User
from portal.permissions import ROLE_PERMS, Perm, platform_perms


def invoice_list(*, fetched_by: User) -> QuerySet[Invoice]:
    """Finance and platform admins see every invoice; tenant admins their tenants'; others none."""
    qs = Invoice.objects.select_related("tenant", "corrects")
    if not fetched_by.is_authenticated:
        return qs.none()
    if Perm.INVOICE_VIEW in platform_perms(fetched_by):
        return qs
    return qs.filter(tenant_id__in=_invoice_tenant_ids(fetched_by))


def _invoice_tenant_ids(user: User) -> QuerySet[Membership, int]:
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.INVOICE_VIEW in perms]
    return Membership.objects.filter(user=user, role__in=roles).values_list("tenant_id", flat=True)


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    """An issued invoice's stored lines; a draft's computed from the ledger now (unsaved)."""
    if invoice.status == InvoiceStatus.DRAFT:
        return [
            InvoiceLine(
                invoice=invoice, sort_key=i, **dict(zip(LINE_FIELDS, line.values(), strict=True))
            )
            for i, line in enumerate(draft_lines(invoice), start=1)
        ]
    return list(InvoiceLine.objects.filter(invoice=invoice).order_by("sort_key"))


def invoice_tenant_choices(*, fetched_by: User) -> QuerySet[Tenant]:
    """The tenants whose invoices the user may filter on (those they see invoices of)."""
    if not fetched_by.is_authenticated:
        return Tenant.objects.none()
    if Perm.INVOICE_VIEW in platform_perms(fetched_by):
        return Tenant.objects.all()
    return Tenant.objects.filter(pk__in=_invoice_tenant_ids(fetched_by))
