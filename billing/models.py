"""The usage ledger (append-only lifecycle events), the price lists that value it, and invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, NoReturn, TypeVar

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from billing.choices import InvoiceKind, InvoiceStatus, Resource, UsageKind
from compute.models import Flavor, VirtualMachine, Volume
from portal.models import Environment, Tenant, User
from portal.scoping import TenantScopedQuerySet

_M = TypeVar("_M", bound=models.Model)


class LedgerImmutableError(Exception):
    """Raised on any attempt to change or remove a usage event: the ledger only grows."""


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise LedgerImmutableError("Usage events are immutable; record a new event instead.")


class UsageEventQuerySet(TenantScopedQuerySet["UsageEvent"]):
    # The database refuses too (a trigger, migration 0002); this says so before the round trip.
    update = _refuse
    delete = _refuse


class UsageEvent(models.Model):
    """One fact that starts, stops or changes a charge, written with the state change itself.

    The allocation is copied, not referenced, so that a later change to the flavor does not
    rewrite history. `key` makes recording idempotent: the same fact recorded twice is one row.
    """

    key = models.CharField(max_length=200, unique=True)
    vm = models.ForeignKey(VirtualMachine, on_delete=models.PROTECT, related_name="usage_events")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=UsageKind.choices)
    at = models.DateTimeField(db_index=True)
    vcpus = models.PositiveIntegerField()
    ram_mib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    # Snapshot events only: which snapshot, and its size.
    snapshot_ref = models.CharField(max_length=64, blank=True)
    snapshot_gib = models.PositiveIntegerField(default=0)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["tenant", "at"], name="usage_event_tenant_at"),
            models.Index(fields=["vm", "at"], name="usage_event_vm_at"),
            # The few VMs with snapshots, which drafting replays in Python, found at once.
            models.Index(
                fields=["tenant", "vm"],
                name="usage_event_snapshots",
                condition=Q(kind__in=["snapshot_created", "snapshot_deleted"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.vm_id} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            _refuse()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()


class VolumeUsageEventQuerySet(TenantScopedQuerySet["VolumeUsageEvent"]):
    update = _refuse
    delete = _refuse


class VolumeUsageEvent(models.Model):
    """One fact of a data volume's life that starts, changes or stops its charge: created (its
    size), resized (its new size), deleted. Append-only like `UsageEvent` (a trigger, migration
    0011); its disk is charged per GiB-hour at the disk price, from `created` to `deleted`,
    attached or not."""

    key = models.CharField(max_length=200, unique=True)
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="usage_events")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    # Copied: renaming or deleting the volume later does not rewrite the bill.
    volume_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=20, choices=UsageKind.choices)
    at = models.DateTimeField(db_index=True)
    size_gib = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = VolumeUsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["tenant", "at"], name="volume_usage_tenant_at"),
            models.Index(fields=["volume", "at"], name="volume_usage_volume_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} volume {self.volume_id} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            _refuse()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()


class UsageInterval(models.Model):
    """A stretch of one VM's life in one charging state: derived from the ledger, never written
    by Nuage itself.

    On PostgreSQL a statement trigger on the ledger (migration 0008) replays the events of every
    VM an INSERT touched and rewrites that VM's intervals in the same transaction, whatever the
    order the events arrive in: the ledger stays the only source of truth and this table is its
    exact projection (tests/billing/test_rating_sql.py compares both). Invoicing sums these
    rows instead of replaying the whole ledger with window functions on every run. Only
    stretches in which something is charged are kept (the VM exists or runs); instants are
    integer microseconds since the epoch and `end_us` is null while the stretch is still open.
    Empty on SQLite, where the Python replay is used.
    """

    vm = models.ForeignKey(VirtualMachine, on_delete=models.DO_NOTHING, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.DO_NOTHING, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.DO_NOTHING, related_name="+")
    start_us = models.BigIntegerField()
    end_us = models.BigIntegerField(null=True)
    vcpus = models.PositiveIntegerField()
    ram_mib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()
    flavor = models.ForeignKey(Flavor, on_delete=models.DO_NOTHING, related_name="+")
    existing = models.BooleanField()
    running = models.BooleanField()
    # The VM's first deletion: readers leave out a VM deleted before their period altogether.
    deleted_us = models.BigIntegerField(null=True)

    objects = TenantScopedQuerySet["UsageInterval"].as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "start_us"], name="usage_interval_tenant")]

    def __str__(self) -> str:
        return f"{self.vm_id} [{self.start_us}, {self.end_us})"


currency_validator = RegexValidator(
    r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 currency code, such as EUR.")
)


def _price_field(label: Any) -> models.DecimalField[Decimal, Decimal]:
    return models.DecimalField(
        label,
        max_digits=14,
        decimal_places=6,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"), _("A price cannot be negative."))],
    )


class PriceList(models.Model):
    """Prices in one currency from `effective_from` until the next list of that currency starts.

    `effective_to` is optional: when empty, the list ends where the next one begins. Lists are
    never edited once in effect (usage has been valued with them); a change is a new list.
    """

    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    vcpu_hour = _price_field(_("price per vCPU-hour"))
    ram_gib_hour = _price_field(_("price per GiB of RAM-hour"))
    disk_gib_hour = _price_field(_("price per GiB of disk-hour"))
    snapshot_gib_hour = _price_field(_("price per GiB of snapshot-hour"))
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "effective_from"], name="price_list_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="price_list_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(vcpu_hour__gte=0)
                & Q(ram_gib_hour__gte=0)
                & Q(disk_gib_hour__gte=0)
                & Q(snapshot_gib_hour__gte=0),
                name="price_list_prices_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency}, {self.effective_from:%Y-%m-%d %H:%M})"


class FlavorPrice(models.Model):
    """An optional flat price per hour a VM of this flavor runs, on top of its resources."""

    price_list = models.ForeignKey(
        PriceList, on_delete=models.CASCADE, related_name="flavor_prices"
    )
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    per_hour = _price_field(_("price per flavor-hour"))

    class Meta:
        ordering = ["price_list", "flavor"]
        constraints = [
            models.UniqueConstraint(fields=["price_list", "flavor"], name="flavor_price_unique"),
            models.CheckConstraint(condition=Q(per_hour__gte=0), name="flavor_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.flavor} {self.per_hour}/h"


class Budget(models.Model):
    """A tenant's monthly budget in the billing currency, for its own calendar month.

    Crossing 80 % and 100 % of it (actual cost, or the month's forecast) tells the tenant's
    admins and approvers once; with `block_requests`, new VM requests are refused once the
    month's actual cost has reached it.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="budget")
    amount = models.DecimalField(
        _("monthly budget"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"), _("Give an amount above zero."))],
    )
    block_requests = models.BooleanField(_("block new requests over budget"), default=False)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet["Budget"].as_manager()

    class Meta:
        ordering = ["tenant"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive")
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.amount}/month"


class BudgetAlert(models.Model):
    """One threshold of one tenant's budget crossed in one month: the notification's record.

    The unique constraint is what makes the periodic check idempotent: a second check (or a
    concurrent one) cannot insert the same row, so it sends nothing. The amount is part of the
    key: after the budget is changed, its new thresholds are announced too. So is the basis: a
    forecast to reach a threshold is announced first, and reaching it in fact later (that is
    when a blocking budget starts refusing requests).
    """

    class Basis(models.TextChoices):
        ACTUAL = "actual", _("actual cost")
        FORECAST = "forecast", _("forecast")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(help_text="The 1st of the tenant's local month")
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the budget")
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2)
    basis = models.CharField(max_length=10, choices=Basis.choices)
    actual = models.DecimalField(max_digits=14, decimal_places=2)
    forecast = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet["BudgetAlert"].as_manager()

    class Meta:
        ordering = ["-month", "threshold", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "threshold", "basis", "budget_amount"],
                name="budget_alert_once_per_month",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.month:%Y-%m} {self.threshold}% ({self.basis})"


class InvoiceImmutableError(Exception):
    """Raised on any attempt to change an issued invoice or its lines: issue a credit note."""


def _refuse_issued() -> NoReturn:
    raise InvoiceImmutableError(
        "An issued invoice cannot be changed or deleted; correct it with a credit note."
    )


class _IssuedGuardQuerySet(TenantScopedQuerySet[_M]):
    """Bulk updates and deletes refused when they touch an issued invoice's rows (`issued`
    filters them). The database refuses too (a trigger, migration 0003); this says so before
    the round trip."""

    issued: ClassVar[dict[str, str]] = {}

    def update(self, **kwargs: Any) -> int:
        if self.filter(**self.issued).exists():
            _refuse_issued()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.filter(**self.issued).exists():
            _refuse_issued()
        return super().delete()


class InvoiceQuerySet(_IssuedGuardQuerySet["Invoice"]):
    issued: ClassVar[dict[str, str]] = {"status": InvoiceStatus.ISSUED}


class NumberSequence(models.Model):
    """The last number given in a year of one series (invoices, credit notes); its row is locked
    while a number is allocated, and the allocation commits or rolls back with the issue itself,
    so each series has no gaps."""

    series = models.CharField(max_length=20, choices=InvoiceKind.choices)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="number_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.last}"


class Invoice(models.Model):
    """A tenant's bill for one calendar month in its time zone, or a credit note reversing one.

    A draft can be rebuilt from the ledger any number of times. Issuing gives it the next number
    of the year and freezes it (model guards here, a trigger in the database); from then on the
    only correction is a credit note, optionally followed by a fresh draft.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="invoices")
    tenant_name = models.CharField(max_length=100)
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    timezone = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    currency = models.CharField(max_length=3, validators=[currency_validator])
    kind = models.CharField(max_length=20, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    status = models.CharField(
        max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    # The sum of the lines, before VAT.
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    # Percent, from the tenant (or the platform) when drafted; the VAT of the total, rounded
    # half up to the cent once (billing/invoicing/vat.py spreads it over the lines).
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"))
    vat_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    # Set when issued: payment due date (invoices), and the issuer's and customer's details as
    # they were then (later changes to the tenant or the settings do not rewrite the bill).
    due_date = models.DateField(null=True, blank=True)
    issuer = models.JSONField(default=dict, blank=True)
    customer = models.JSONField(default=dict, blank=True)
    # A draft stores no lines: they are computed from the ledger when it is shown, and written
    # when it is issued (billing/invoicing/services.py). Its header keeps their count and total.
    line_count = models.PositiveIntegerField(default=0, editable=False)
    drafted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_by_username = models.CharField(max_length=150, blank=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "-month", "tenant_name", "id"]
        indexes = [models.Index(fields=["tenant", "year", "month"], name="invoice_tenant_period")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "year", "month"],
                condition=Q(status="draft", kind="invoice"),
                name="invoice_one_draft_per_period",
            ),
            models.UniqueConstraint(
                fields=["corrects"],
                condition=Q(kind="credit_note"),
                name="invoice_one_credit_note_each",
            ),
            models.CheckConstraint(
                condition=(Q(status="draft") & Q(number__isnull=True) & Q(issued_at__isnull=True))
                | (Q(status="issued") & Q(number__isnull=False) & Q(issued_at__isnull=False)),
                name="invoice_number_iff_issued",
            ),
            models.CheckConstraint(
                condition=(Q(kind="invoice") & Q(corrects__isnull=True))
                | (Q(kind="credit_note") & Q(corrects__isnull=False)),
                name="invoice_credit_note_corrects",
            ),
            models.CheckConstraint(
                condition=Q(month__gte=1) & Q(month__lte=12), name="invoice_month_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number or 'draft'} {self.tenant_name} {self.year}-{self.month:02d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._stored_as_issued():
            _refuse_issued()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self._stored_as_issued():
            _refuse_issued()
        return super().delete(*args, **kwargs)

    @property
    def is_issued(self) -> bool:
        return self.status == InvoiceStatus.ISSUED

    @property
    def total_with_vat(self) -> Decimal:
        return self.total + self.vat_amount

    def _stored_as_issued(self) -> bool:
        return (
            self.pk is not None
            and Invoice.objects.unscoped().filter(pk=self.pk, status=InvoiceStatus.ISSUED).exists()
        )


class InvoiceLineQuerySet(_IssuedGuardQuerySet["InvoiceLine"]):
    issued: ClassVar[dict[str, str]] = {"invoice__status": InvoiceStatus.ISSUED}


class InvoiceLine(models.Model):
    """One VM's use of one resource at one quantity and price; names are copied, not referenced,
    so that renaming a VM or an environment later does not rewrite the bill."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    sort_key = models.PositiveIntegerField()
    vm = models.ForeignKey(
        VirtualMachine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vm_name = models.CharField(max_length=63)
    environment_name = models.CharField(max_length=63)
    resource = models.CharField(max_length=20, choices=Resource.choices)
    unit = models.CharField(max_length=10)
    flavor_name = models.CharField(max_length=100, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=10)
    price_list = models.ForeignKey(
        PriceList, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    seconds = models.DecimalField(max_digits=20, decimal_places=6)
    start = models.DateTimeField()
    end = models.DateTimeField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    description = models.CharField(max_length=300)

    tenant_path: ClassVar[str] = "invoice__tenant"
    objects = InvoiceLineQuerySet.as_manager()

    class Meta:
        ordering = ["invoice", "sort_key"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "sort_key"], name="invoice_line_unique_key")
        ]

    def __str__(self) -> str:
        return self.description

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._in_issued_invoice():
            _refuse_issued()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self._in_issued_invoice():
            _refuse_issued()
        return super().delete(*args, **kwargs)

    @property
    def hours(self) -> Decimal:
        return (self.seconds / 3600).quantize(Decimal("0.01"))

    def _in_issued_invoice(self) -> bool:
        return (
            Invoice.objects.unscoped()
            .filter(pk=self.invoice_id, status=InvoiceStatus.ISSUED)
            .exists()
        )
