"""Serializers for price lists and usage reports."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.choices import InvoiceStatus
from billing.invoicing.lines import as_draft_lines, lines_digest
from billing.invoicing.selectors import invoice_lines
from billing.models import Budget, FlavorPrice, Invoice, InvoiceLine, PriceList
from billing.periods import MAX_YEAR, MIN_YEAR
from billing.selectors import billing_currency
from portal.api.fields import ScopedPrimaryKeyRelatedField
from portal.models import Tenant

_PRICE = {"max_digits": 14, "decimal_places": 6, "min_value": Decimal("0")}


class FlavorPriceSerializer(serializers.ModelSerializer[FlavorPrice]):
    flavor_name = serializers.CharField(source="flavor.name", read_only=True)

    class Meta:
        model = FlavorPrice
        fields = ["flavor", "flavor_name", "per_hour"]


class PriceListSerializer(serializers.ModelSerializer[PriceList]):
    effective_until = serializers.SerializerMethodField(
        help_text="Where the list stops applying: its own end, or the next list's start."
    )
    flavor_prices = FlavorPriceSerializer(many=True, read_only=True)

    class Meta:
        model = PriceList
        fields = [
            "id",
            "name",
            "currency",
            "effective_from",
            "effective_to",
            "effective_until",
            "vcpu_hour",
            "ram_gib_hour",
            "disk_gib_hour",
            "snapshot_gib_hour",
            "flavor_prices",
            "created_at",
        ]
        read_only_fields = fields

    def get_effective_until(self, obj: PriceList) -> datetime | None:
        next_from: datetime | None = getattr(obj, "next_from", None)
        ends = [t for t in (obj.effective_to, next_from) if t is not None]
        return min(ends) if ends else None


class FlavorPriceInputSerializer(serializers.Serializer[Any]):
    flavor = serializers.IntegerField()
    per_hour = serializers.DecimalField(**_PRICE)  # type: ignore[arg-type]


class PriceListCreateSerializer(serializers.Serializer[PriceList]):
    name = serializers.CharField(max_length=100)
    currency = serializers.CharField(max_length=3)
    effective_from = serializers.DateTimeField()
    effective_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
    vcpu_hour = serializers.DecimalField(**_PRICE)  # type: ignore[arg-type]
    ram_gib_hour = serializers.DecimalField(**_PRICE)  # type: ignore[arg-type]
    disk_gib_hour = serializers.DecimalField(**_PRICE)  # type: ignore[arg-type]
    snapshot_gib_hour = serializers.DecimalField(**_PRICE, required=False, default=Decimal("0"))  # type: ignore[arg-type]
    flavor_prices = FlavorPriceInputSerializer(many=True, required=False, default=list)


class PriceListEndSerializer(serializers.Serializer[Any]):
    effective_to = serializers.DateTimeField(help_text="When the list stops applying")


class InstantField(serializers.Field[datetime, str, str, Any]):
    """An ISO 8601 date (midnight UTC) or date-time; without a zone it is UTC."""

    default_error_messages = {
        "invalid": _("Use an ISO 8601 date or date-time, such as 2025-04-01 or 2025-04-01T12:00Z.")
    }

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        if not text.isascii():  # "２０２６-01-01" (full-width digits) is not ISO 8601
            self.fail("invalid")
        try:
            value = parse_datetime(text)
            if value is None:
                day = parse_date(text)
                value = datetime.combine(day, time.min) if day is not None else None
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        assert value is not None
        if timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)
        try:  # 9999-12-31T23:59-05:00 is past what a datetime holds, once in UTC
            return value.astimezone(UTC)
        except OverflowError:
            self.fail("invalid")
            raise  # (fail raises)

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class UsageQuerySerializer(serializers.Serializer[Any]):
    tenant = serializers.CharField(required=False, help_text="A tenant's slug or id.")
    start = InstantField(required=False, help_text="Default: the 1st of this month, 00:00 UTC.")
    end = InstantField(required=False, help_text="Default and latest: now.")
    group_by = serializers.ChoiceField(
        choices=[("cost_centre", "cost_centre")], required=False, help_text="cost_centre"
    )


class UsageLineSerializer(serializers.Serializer[Any]):
    vm = serializers.IntegerField(source="vm_id", allow_null=True, help_text="Null: a volume's.")
    vm_name = serializers.CharField()
    volume = serializers.IntegerField(
        source="volume_id", allow_null=True, help_text="A data volume's line: the volume."
    )
    volume_name = serializers.CharField()
    tenant = serializers.CharField()
    environment = serializers.CharField()
    resource = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=10, normalize_output=True)
    unit = serializers.CharField()
    flavor = serializers.IntegerField(source="flavor_id", allow_null=True)
    price_list = serializers.IntegerField(source="price_list_id", allow_null=True)
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=6, allow_null=True, help_text="Per unit and hour."
    )
    seconds = serializers.DecimalField(max_digits=20, decimal_places=6, normalize_output=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    cost_centre = serializers.CharField(
        allow_null=True, required=False, help_text="With group_by=cost_centre: its tenant's."
    )


class CostCentreTotalSerializer(serializers.Serializer[Any]):
    cost_centre = serializers.CharField(help_text="Empty: tenants without a cost centre.")
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    lines = serializers.IntegerField()


class UsageReportSerializer(serializers.Serializer[Any]):
    tenant = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    currency = serializers.CharField()
    rounding = serializers.CharField()
    lines = UsageLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    groups = CostCentreTotalSerializer(
        many=True, allow_null=True, help_text="With group_by=cost_centre: each centre's total."
    )


class BudgetSerializer(serializers.ModelSerializer[Budget]):
    # Declared, so that no uniqueness check tells anyone whether another tenant has a budget.
    tenant = ScopedPrimaryKeyRelatedField(Tenant)
    tenant_slug = serializers.CharField(source="tenant.slug", read_only=True)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Per calendar month in the tenant's zone."
    )
    currency = serializers.SerializerMethodField(help_text="The billing currency.")

    class Meta:
        model = Budget
        fields = [
            "id",
            "tenant",
            "tenant_slug",
            "amount",
            "currency",
            "block_requests",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]

    def get_currency(self, obj: Budget) -> str:
        return billing_currency()


class BudgetUpdateSerializer(serializers.Serializer[Budget]):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    block_requests = serializers.BooleanField(required=False)


class InvoiceLineSerializer(serializers.ModelSerializer[InvoiceLine]):
    class Meta:
        model = InvoiceLine
        fields = [
            "sort_key",
            "vm",
            "vm_name",
            "environment_name",
            "resource",
            "unit",
            "flavor_name",
            "quantity",
            "price_list",
            "unit_price",
            "seconds",
            "start",
            "end",
            "amount",
            "description",
        ]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer[Invoice]):
    tenant_slug = serializers.CharField(source="tenant.slug", read_only=True)
    corrects_number = serializers.CharField(
        source="corrects.number", read_only=True, allow_null=True, default=None
    )
    total = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, help_text="The lines' sum, before VAT."
    )
    total_with_vat = serializers.DecimalField(max_digits=15, decimal_places=2, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "status",
            "tenant",
            "tenant_slug",
            "tenant_name",
            "year",
            "month",
            "timezone",
            "period_start",
            "period_end",
            "currency",
            "total",
            "vat_rate",
            "vat_amount",
            "total_with_vat",
            "due_date",
            "issuer",
            "customer",
            "corrects",
            "corrects_number",
            "issued_at",
            "issued_by_username",
            "created_at",
        ]
        read_only_fields = fields


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = serializers.SerializerMethodField()
    digest = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "line_count", "lines", "digest"]
        read_only_fields = fields

    def _lines(self, invoice: Invoice) -> list[InvoiceLine]:
        cached: list[InvoiceLine] | None = getattr(invoice, "_detail_lines", None)
        if cached is None:
            cached = invoice_lines(invoice)
            invoice._detail_lines = cached  # type: ignore[attr-defined]
        return cached

    @extend_schema_field(InvoiceLineSerializer(many=True))
    def get_lines(self, invoice: Invoice) -> Any:
        """A draft's lines are computed from the ledger as it is now; an issued invoice's are
        the ones it was issued with."""
        return InvoiceLineSerializer(self._lines(invoice), many=True).data

    @extend_schema_field(serializers.CharField())
    def get_digest(self, invoice: Invoice) -> str:
        """A draft's lines digest: send it back with `issue` to issue exactly these lines."""
        if invoice.status != InvoiceStatus.DRAFT:
            return ""
        return lines_digest(as_draft_lines(self._lines(invoice)))


class InvoiceIssueSerializer(serializers.Serializer[Any]):
    digest = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The `digest` of the draft as reviewed: issue only if its lines are unchanged.",
    )


class AsciiIntegerField(serializers.IntegerField):
    """A whole number in ASCII digits: int() would also read "٢٠٢٦" (Arabic-Indic digits)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return super().to_internal_value(data)


class InvoiceDraftSerializer(serializers.Serializer[Any]):
    tenant = serializers.CharField(help_text="A tenant's slug or id.")
    year = AsciiIntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    month = AsciiIntegerField(
        min_value=1, max_value=12, help_text="A calendar month in the tenant's time zone."
    )


class CreditNoteRequestSerializer(serializers.Serializer[Any]):
    redraft = serializers.BooleanField(
        default=False, help_text="Also build a fresh draft of the month from the ledger."
    )


class CreditNoteResultSerializer(serializers.Serializer[Any]):
    credit_note = InvoiceDetailSerializer()
    draft = InvoiceDetailSerializer(allow_null=True)
