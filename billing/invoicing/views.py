"""Browser pages of invoices: the list with filters and drafting, one invoice with its lines,
issue and credit note (finance and platform admins), downloads; tenant admins read their own."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import exports, invoicing, selectors
from billing.choices import InvoiceKind, InvoiceStatus
from billing.invoicing.forms import InvoiceDraftForm, InvoiceFilterForm, UsageDownloadForm
from billing.invoicing.vat import vat_split
from billing.models import Invoice
from billing.periods import month_bounds
from portal.errors import ConflictError
from portal.models import Tenant, User
from portal.permissions import Perm, platform_perms
from portal.selectors import tenant_list
from portal.tenancy import current_tenant


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _manages(user: User) -> bool:
    return Perm.INVOICE_MANAGE in platform_perms(user)


def _last_month() -> tuple[int, int]:
    today = timezone.localdate()
    return (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)


def _report(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, str(exc))


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    tenants = invoicing.invoice_tenant_choices(fetched_by=user)
    if not tenants.exists() and not _manages(user):
        raise Http404  # as for a page that does not exist: nothing to see for this role
    year, month = _last_month()
    draft_form = InvoiceDraftForm(
        request.POST or None,
        tenants=Tenant.objects.unscoped(),
        initial={"year": year, "month": month, "tenant": current_tenant(request)},
        auto_id="draft-%s",
    )
    if request.method == "POST":
        if not _manages(user):
            raise PermissionDenied(_("Your platform role does not allow this action."))
        if draft_form.is_valid():
            data = draft_form.cleaned_data
            try:
                invoice, changed = invoicing.invoice_draft(
                    drafted_by=user,
                    tenant=data["tenant"],
                    year=data["year"],
                    month=data["month"],
                    remote_addr=request.META.get("REMOTE_ADDR"),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    draft_form.add_error(field if field in draft_form.fields else None, errors)
            except (ConflictError, PermissionDenied) as exc:
                draft_form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("Draft built from the usage ledger.")
                    if changed
                    else _("The draft was already up to date with the usage ledger."),
                )
                return redirect("billing:invoice-detail", pk=invoice.pk)

    chosen = current_tenant(request)
    filters, invoices = _filtered(request, tenants)
    usage_form = UsageDownloadForm(
        tenants=tenant_list(fetched_by=user),
        initial={"year": year, "month": month, "tenant": chosen, "format": "xlsx"},
        auto_id="usage-%s",
    )
    return render(
        request,
        "billing/invoice_list.html",
        {
            "invoices": invoices[:500],
            "filters": filters,
            "formats": exports.FORMATS,
            "query": request.GET.urlencode(),
            "draft_form": draft_form if _manages(user) else None,
            "usage_form": usage_form,
        },
    )


def _filtered(
    request: HttpRequest, tenants: QuerySet[Tenant]
) -> tuple[InvoiceFilterForm, QuerySet[Invoice]]:
    """The list's filters from the query string, and the invoices they select (the user's
    current tenant until a tenant, or "All", is chosen)."""
    chosen = current_tenant(request)
    filters = InvoiceFilterForm(
        request.GET or None,
        tenants=tenants,
        initial={"tenant": chosen},
        auto_id="filter-%s",
    )
    invoices = invoicing.invoice_list(fetched_by=_user(request))
    if filters.is_valid():
        data = filters.cleaned_data
        tenant = data["tenant"] if "tenant" in request.GET else chosen
        if tenant is not None:
            invoices = invoices.filter(tenant=tenant)
        for name in ("year", "month", "status"):
            if data[name]:
                invoices = invoices.filter(**{name: data[name]})
    elif chosen is not None:
        invoices = invoices.filter(tenant=chosen)
    return filters, invoices


@login_required
def invoice_list_download(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The invoices the list shows, with the same filters, as one file (no 500-row cap)."""
    if fmt not in exports.FORMATS:
        raise Http404
    user = _user(request)
    tenants = invoicing.invoice_tenant_choices(fetched_by=user)
    if not tenants.exists() and not _manages(user):
        raise Http404  # as for a page that does not exist: nothing to see for this role
    filters, invoices = _filtered(request, tenants)
    if filters.is_bound and not filters.is_valid():
        for errors in filters.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return redirect("billing:invoice-list")
    table = exports.invoice_register_table(
        invoices.order_by("year", "month", "tenant_name", "kind", "id"),
        currency=selectors.billing_currency(),
    )
    return exports.export_response(table, fmt=fmt, filename="nuage-invoices")


def _visible(request: HttpRequest, pk: int) -> Invoice:
    return get_object_or_404(invoicing.invoice_list(fetched_by=_user(request)), pk=pk)


@login_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _visible(request, pk)
    manages = _manages(_user(request))
    credited_by = invoice.credit_notes.first()
    lines = invoicing.invoice_lines(invoice)
    for line, vat in zip(
        lines, vat_split([ln.amount for ln in lines], invoice.vat_rate), strict=True
    ):
        line.vat = vat  # type: ignore[attr-defined]
    stale = invoice.status == InvoiceStatus.DRAFT and (
        len(lines) != invoice.line_count or sum(ln.amount for ln in lines) != invoice.total
    )
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "invoice": invoice,
            "lines": lines,
            # What the reviewer sees, sent back with "issue": nothing else can be issued.
            "digest": invoicing.lines_digest(invoicing.as_draft_lines(lines))
            if invoice.status == InvoiceStatus.DRAFT
            else "",
            "stale": stale,
            "credited_by": credited_by,
            "formats": exports.FORMATS,
            "can_issue": manages and invoice.status == InvoiceStatus.DRAFT,
            "can_credit": manages
            and invoice.status == InvoiceStatus.ISSUED
            and invoice.kind == InvoiceKind.INVOICE
            and credited_by is None,
        },
    )


@login_required
@require_POST
def invoice_issue(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _visible(request, pk)
    try:
        issued = invoicing.invoice_issue(
            issued_by=_user(request),
            invoice=invoice,
            digest=request.POST.get("digest") or None,
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except invoicing.EmptyInvoiceError as exc:
        messages.warning(request, str(exc))
    except (ConflictError, PermissionDenied) as exc:
        _report(request, exc)
    else:
        messages.success(request, _("Invoice issued as %(number)s.") % {"number": issued.number})
    return redirect("billing:invoice-detail", pk=invoice.pk)


@login_required
@require_POST
def invoice_credit(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _visible(request, pk)
    try:
        note, draft = invoicing.invoice_credit(
            credited_by=_user(request),
            invoice=invoice,
            redraft=request.POST.get("redraft") == "1",
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except (ConflictError, PermissionDenied, ValidationError) as exc:
        _report(request, exc)
        return redirect("billing:invoice-detail", pk=invoice.pk)
    messages.success(request, _("Credit note %(number)s issued.") % {"number": note.number})
    return redirect("billing:invoice-detail", pk=draft.pk if draft else note.pk)


@login_required
def invoice_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    if fmt not in exports.FORMATS:
        raise Http404
    invoice = _visible(request, pk)
    return exports.invoice_export(invoice, invoicing.invoice_lines(invoice), fmt=fmt)


@login_required
def usage_download(request: HttpRequest) -> HttpResponseBase:
    """A month of usage as a file: in the tenant's zone, or UTC for all tenants."""
    user = _user(request)
    form = UsageDownloadForm(request.GET, tenants=tenant_list(fetched_by=user))
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return redirect("billing:invoice-list")
    data = form.cleaned_data
    tenant: Tenant | None = data["tenant"]
    zone = tenant.zone if tenant is not None else ZoneInfo("UTC")
    start, end = month_bounds(zone, data["year"], data["month"])
    end = min(end, timezone.now())
    if end <= start:
        messages.error(request, _("That month has not begun yet."))
        return redirect("billing:invoice-list")
    rows = selectors.usage_report_rows(fetched_by=user, start=start, end=end, tenant=tenant)
    table = exports.usage_table(
        rows,
        tenant_name=tenant.name if tenant else None,
        start=start,
        end=end,
        currency=selectors.billing_currency(),
        zone=zone,
        cost_centres=selectors.cost_centres(fetched_by=user)
        if data.get("group_by") == "cost_centre"
        else None,
    )
    filename = (
        f"nuage-usage-{tenant.slug if tenant else 'all'}-{data['year']:04d}-{data['month']:02d}"
    )
    return exports.export_response(table, fmt=data["format"], filename=filename)
