"""API views: price lists (read by everyone, kept by admins and finance), usage reports and
budgets (read by the tenant's members, set by its admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api.serializers import (
    BudgetSerializer,
    BudgetUpdateSerializer,
    PriceListCreateSerializer,
    PriceListSerializer,
    UsageQuerySerializer,
    UsageReportSerializer,
)
from billing.choices import RESOURCE_UNITS
from billing.models import Budget, PriceList
from billing.usage import total
from compute.models import VirtualMachine
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
        ser = BudgetSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        tenant = ser.validated_data["tenant"]
        if not tenant_list(fetched_by=user).filter(pk=tenant.pk).exists():
            raise ValidationError({"tenant": _("Unknown tenant.")})
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


class UsageView(APIView):
    """Usage and cost per VM and resource over [start, end), for the tenants you see."""

    @extend_schema(
        parameters=[
            OpenApiParameter("tenant", str, description="A tenant's slug or id."),
            OpenApiParameter("start", str, description="ISO 8601; default the 1st, 00:00 UTC."),
            OpenApiParameter("end", str, description="ISO 8601; default and latest: now."),
        ],
        responses=UsageReportSerializer,
    )
    def get(self, request: Request) -> Response:
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
            lookup = {"pk": int(wanted)} if wanted.isdigit() else {"slug": wanted}
            tenant = tenant_list(fetched_by=user).filter(**lookup).first()
            if tenant is None:
                raise ValidationError({"tenant": _("Unknown tenant.")})
        lines = selectors.usage_report(fetched_by=user, start=start, end=end, tenant=tenant)
        vms = dict(
            VirtualMachine.objects.filter(pk__in={ln.vm_id for ln in lines}).values_list(
                "pk", "name"
            )
        )
        tenants = dict(
            Tenant.objects.filter(pk__in={ln.tenant_id for ln in lines}).values_list("pk", "slug")
        )
        envs = dict(
            Environment.objects.filter(pk__in={ln.environment_id for ln in lines}).values_list(
                "pk", "name"
            )
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
                    "vm_name": vms.get(ln.vm_id, ""),
                    "tenant": tenants.get(ln.tenant_id, ""),
                    "environment": envs.get(ln.environment_id, ""),
                    "unit": RESOURCE_UNITS[ln.resource],
                }
                for ln in lines
            ],
            "total": total(lines),
        }
        return Response(UsageReportSerializer(report).data)
