"""API views: price lists (read by everyone, kept by admins and finance), usage reports,
budgets (read by the tenant's members, set by its admins) and invoices; usage reports and
invoices also download as CSV, XLSX or PDF (`?format=`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import exports, invoicing, selectors, services
from billing.api.serializers import (
    BudgetSerializer,
    BudgetUpdateSerializer,
    CreditNoteRequestSerializer,
    CreditNoteResultSerializer,
    InvoiceDetailSerializer,
    InvoiceDraftSerializer,
    InvoiceIssueSerializer,
    InvoiceSerializer,
    PriceListCreateSerializer,
    PriceListEndSerializer,
    PriceListSerializer,
    UsageQuerySerializer,
    UsageReportSerializer,
)
from billing.choices import RESOURCE_UNITS, InvoiceKind, InvoiceStatus
from billing.models import Budget, Invoice, PriceList
from billing.periods import MAX_PERIOD_DAYS
from billing.rating.python import total
from compute.models import VirtualMachine, Volume
from compute.selectors import flavor_list
from portal.api.viewsets import (
    ScopedReadOnlyViewSet,
    ServiceUpdateMixin,
    client_ip,
    request_user,
)
from portal.models import Environment, Tenant
from portal.selectors import tenant_list

ROUNDING_RULE = "ROUND_HALF_EVEN to 0.01, once per line"


class _DownloadRenderer(renderers.BaseRenderer):
    """Lets `?format=csv|xlsx|pdf` through content negotiation; the view answers the file itself.

    Only errors reach render(): they are answered in JSON (see ExportFormatsMixin).
    """

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        return renderers.JSONRenderer().render(data)


class CSVRenderer(_DownloadRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(_DownloadRenderer):
    media_type = exports.CONTENT_TYPES["xlsx"]
    format = "xlsx"


class PDFRenderer(_DownloadRenderer):
    media_type = "application/pdf"
    format = "pdf"


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    enum=list(exports.FORMATS),
    description="Download as a file instead of JSON (CSV is streamed).",
)


def _download_responses(json: Any) -> dict[Any, Any]:
    return {
        (200, "application/json"): json,
        **{
            (200, renderer.media_type): OpenApiResponse(OpenApiTypes.BINARY)
            for renderer in (CSVRenderer, XLSXRenderer, PDFRenderer)
        },
    }


class ExportFormatsMixin:
    """Adds the download renderers to the actions in `export_actions` (None: an APIView)."""

    export_actions: frozenset[str | None] = frozenset({None})

    def get_renderers(self) -> list[renderers.BaseRenderer]:
        found: list[renderers.BaseRenderer] = super().get_renderers()  # type: ignore[misc]
        if getattr(self, "action", None) in self.export_actions:
            found += [CSVRenderer(), XLSXRenderer(), PDFRenderer()]
        return found

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        request = self.request  # type: ignore[attr-defined]
        if isinstance(getattr(request, "accepted_renderer", None), _DownloadRenderer):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = "application/json"
        return response


def export_format(request: Request) -> str | None:
    renderer = getattr(request, "accepted_renderer", None)
    return renderer.format if isinstance(renderer, _DownloadRenderer) else None


class PriceListViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.price_list_list)
    serializer_class = PriceListSerializer

    @extend_schema(request=PriceListCreateSerializer, responses={201: PriceListSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        ser = PriceListCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        flavors = {f.pk: f for f in flavor_list(fetched_by=user)}
        flavor_prices = {}
        for item in data.pop("flavor_prices"):
            flavor = flavors.get(item["flavor"])
            if flavor is None:
                raise ValidationError({"flavor_prices": _("Unknown flavor %(id)s.") % item})
            flavor_prices[flavor] = item["per_hour"]
        price_list = services.price_list_create(
            created_by=user, flavor_prices=flavor_prices, remote_addr=client_ip(request), **data
        )
        fresh = selectors.price_list_list(fetched_by=user).get(pk=price_list.pk)
        return Response(PriceListSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PriceListEndSerializer, responses={200: PriceListSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        """End the list at an instant to come (`effective_to`); 400 for one in the past, before
        its start, or inside a month already invoiced."""
        user = request_user(request)
        target = self.get_object()  # a list one may not see is a 404 before any 400
        ser = PriceListEndSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.price_list_end(
            ended_by=user,
            price_list=target,
            effective_to=ser.validated_data["effective_to"],
            remote_addr=client_ip(request),
        )
        fresh = selectors.price_list_list(fetched_by=user).get(pk=target.pk)
        return Response(PriceListSerializer(fresh).data)

    def perform_destroy(self, instance: PriceList) -> None:
        services.price_list_delete(
            deleted_by=request_user(self.request),
            price_list=instance,
            remote_addr=client_ip(self.request),
        )


@extend_schema_view(
    update=extend_schema(request=BudgetUpdateSerializer),
    partial_update=extend_schema(request=BudgetUpdateSerializer),
)
class BudgetViewSet(ServiceUpdateMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """A tenant's monthly budget: alerts at 80 % and 100 %, optionally blocking new requests."""

    selector = staticmethod(selectors.budget_list)
    serializer_class = BudgetSerializer
    filterset_fields = ["tenant", "block_requests"]
    update_serializer_class = BudgetUpdateSerializer
    update_service = staticmethod(services.budget_update)
    update_object = "budget"

    @extend_schema(request=BudgetSerializer, responses={201: BudgetSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = BudgetSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        tenant = ser.validated_data["tenant"]
        budget = services.budget_create(
            created_by=user,
            tenant=tenant,
            amount=ser.validated_data["amount"],
            block_requests=ser.validated_data.get("block_requests", False),
            remote_addr=client_ip(request),
        )
        return Response(BudgetSerializer(budget).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Budget) -> None:
        services.budget_delete(
            deleted_by=request_user(self.request),
            budget=instance,
            remote_addr=client_ip(self.request),
        )


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class UsageView(ExportFormatsMixin, APIView):
    """Usage and cost per VM and resource over [start, end), for the tenants you see."""

    @extend_schema(
        parameters=[
            OpenApiParameter("tenant", str, description="A tenant's slug or id."),
            OpenApiParameter("start", str, description="ISO 8601; default the 1st, 00:00 UTC."),
            OpenApiParameter("end", str, description="ISO 8601; default and latest: now."),
            OpenApiParameter(
                "group_by",
                str,
                enum=list(exports.GROUPINGS),
                description="cost_centre: lines carry their tenant's cost centre, `groups` "
                "gives each centre's total; files are sorted by centre with subtotals.",
            ),
            FORMAT_PARAMETER,
        ],
        responses=_download_responses(UsageReportSerializer),
    )
    def get(self, request: Request) -> HttpResponseBase:
        user = request_user(request)
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        start: datetime = query.validated_data.get("start") or _month_start(now)
        end: datetime = min(query.validated_data.get("end") or now, now)
        if start >= now:
            raise ValidationError({"start": _("The period has not begun yet.")})
        if end <= start:
            raise ValidationError({"end": _("The end must come after the start.")})
        tenant: Tenant | None = None
        wanted = query.validated_data.get("tenant")
        if wanted:
            lookup = _tenant_lookup(wanted)
            tenant = tenant_list(fetched_by=user).filter(**lookup).first()
            if tenant is None:
                raise ValidationError({"tenant": _("Unknown tenant.")})
        if end - start > timedelta(days=MAX_PERIOD_DAYS):
            raise ValidationError(
                {"end": _("Choose at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}}
            )
        grouped = query.validated_data.get("group_by") == "cost_centre"
        centres = selectors.cost_centres(fetched_by=user) if grouped else None
        fmt = export_format(request)
        if fmt is not None:
            rows = selectors.usage_report_rows(fetched_by=user, start=start, end=end, tenant=tenant)
            table = exports.usage_table(
                rows,
                tenant_name=tenant.name if tenant else None,
                start=start,
                end=end,
                currency=selectors.billing_currency(),
                cost_centres=centres,
            )
            filename = exports.usage_filename(tenant.slug if tenant else None, start, end)
            return exports.export_response(table, fmt=fmt, filename=filename)
        lines = selectors.usage_report(fetched_by=user, start=start, end=end, tenant=tenant)
        vms = dict(
            VirtualMachine.objects.unscoped()
            .filter(pk__in={ln.vm_id for ln in lines})
            .values_list("pk", "name")
        )
        volumes = dict(
            Volume.objects.unscoped()
            .filter(pk__in={ln.volume_id for ln in lines if ln.volume_id})
            .values_list("pk", "name")
        )
        tenants = dict(
            Tenant.objects.unscoped()
            .filter(pk__in={ln.tenant_id for ln in lines})
            .values_list("pk", "slug")
        )
        envs = dict(
            Environment.objects.unscoped()
            .filter(pk__in={ln.environment_id for ln in lines})
            .values_list("pk", "name")
        )
        report = {
            "tenant": tenant.slug if tenant else None,
            "start": start,
            "end": end,
            "currency": selectors.billing_currency(),
            "rounding": ROUNDING_RULE,
            "lines": [
                {
                    **ln.__dict__,
                    "vm_id": ln.vm_id or None,  # 0: a data volume's line
                    "volume_name": volumes.get(ln.volume_id, "") if ln.volume_id else "",
                    "vm_name": vms.get(ln.vm_id, ""),
                    "tenant": tenants.get(ln.tenant_id, ""),
                    "environment": envs.get(ln.environment_id, ""),
                    "unit": RESOURCE_UNITS[ln.resource],
                    "cost_centre": centres.get(ln.tenant_id, "") if centres is not None else None,
                }
                for ln in lines
            ],
            "total": total(lines),
            "groups": _cost_centre_totals(lines, centres) if centres is not None else None,
        }
        return Response(UsageReportSerializer(report).data)


def _cost_centre_totals(lines: list[Any], centres: dict[int, str]) -> list[dict[str, Any]]:
    """Each cost centre's total (tenants without one under ""), centres in order."""
    by_centre: dict[str, list[Any]] = {}
    for line in lines:
        by_centre.setdefault(centres.get(line.tenant_id, ""), []).append(line)
    return [
        {"cost_centre": centre, "total": total(group), "lines": len(group)}
        for centre, group in sorted(by_centre.items(), key=lambda item: (item[0] == "", item[0]))
    ]


def _tenant_lookup(wanted: str) -> dict[str, Any]:
    """A tenant's id (ASCII digits, within a bigint) or its slug: `str.isdigit` also says yes
    to "²" or "٣", which int() refuses or reads, and a long number overflows the column."""
    if wanted.isascii() and wanted.isdigit() and len(wanted) <= 18:
        return {"pk": int(wanted)}
    return {"slug": wanted}


def _tenant_named(request: Request, wanted: str) -> Tenant:
    lookup = _tenant_lookup(wanted)
    tenant = tenant_list(fetched_by=request_user(request)).filter(**lookup).first()
    if tenant is None:
        raise ValidationError({"tenant": _("Unknown tenant.")})
    return tenant


class InvoiceViewSet(ExportFormatsMixin, ScopedReadOnlyViewSet):
    """Invoices and credit notes. Finance and platform admins draft, issue and credit them;
    tenant admins read their tenant's. The list (a register) and the detail download as CSV,
    XLSX or PDF."""

    selector = staticmethod(invoicing.invoice_list)
    serializer_class = InvoiceSerializer
    filterset_fields = ["tenant", "year", "month", "status", "kind"]
    export_actions = frozenset({"list", "retrieve"})

    @extend_schema(
        parameters=[FORMAT_PARAMETER],
        responses=_download_responses(InvoiceSerializer(many=True)),
        description="Invoices and credit notes, filtered; with `?format=` the whole selection "
        "(not paged) as one file: a register with each invoice's lines count and total.",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        fmt = export_format(request)
        if fmt is None:
            return super().list(request, *args, **kwargs)
        invoices = self.filter_queryset(self.get_queryset()).order_by(
            "year", "month", "tenant_name", "kind", "id"
        )
        table = exports.invoice_register_table(invoices, currency=selectors.billing_currency())
        return exports.export_response(table, fmt=fmt, filename="nuage-invoices")

    @extend_schema(
        parameters=[FORMAT_PARAMETER], responses=_download_responses(InvoiceDetailSerializer)
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        invoice = self.get_object()
        fmt = export_format(request)
        if fmt is not None:
            return exports.invoice_export(invoice, invoicing.invoice_lines(invoice), fmt=fmt)
        return Response(self._detail(invoice))

    def _detail(self, invoice: Invoice) -> Any:
        fresh = self.get_queryset().get(pk=invoice.pk)
        return InvoiceDetailSerializer(fresh).data

    @extend_schema(
        request=InvoiceDraftSerializer,
        responses={201: InvoiceDetailSerializer, 200: InvoiceDetailSerializer},
        description="Build the month's draft (201), or rebuild the existing one (200). The month "
        "must have ended in the tenant's time zone.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = InvoiceDraftSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        tenant = _tenant_named(request, str(data["tenant"]))
        existed = (
            Invoice.objects.unscoped()
            .filter(
                tenant=tenant,
                year=data["year"],
                month=data["month"],
                status=InvoiceStatus.DRAFT,
                kind=InvoiceKind.INVOICE,
            )
            .exists()
        )
        invoice, _changed = invoicing.invoice_draft(
            drafted_by=request_user(request),
            tenant=tenant,
            year=data["year"],
            month=data["month"],
            remote_addr=client_ip(request),
        )
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(self._detail(invoice), status=code)

    @extend_schema(request=InvoiceIssueSerializer, responses={200: InvoiceDetailSerializer})
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, pk: str | None = None) -> Response:
        ser = InvoiceIssueSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        invoice = invoicing.invoice_issue(
            issued_by=request_user(request),
            invoice=self.get_object(),
            digest=ser.validated_data.get("digest") or None,
            remote_addr=client_ip(request),
        )
        return Response(self._detail(invoice))

    @extend_schema(request=CreditNoteRequestSerializer, responses={201: CreditNoteResultSerializer})
    @action(detail=True, methods=["post"], url_path="credit-note")
    def credit_note(self, request: Request, pk: str | None = None) -> Response:
        ser = CreditNoteRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        note, draft = invoicing.invoice_credit(
            credited_by=request_user(request),
            invoice=self.get_object(),
            redraft=ser.validated_data["redraft"],
            remote_addr=client_ip(request),
        )
        return Response(
            {"credit_note": self._detail(note), "draft": self._detail(draft) if draft else None},
            status=status.HTTP_201_CREATED,
        )
