"""Writes to price lists (create one for a date, withdraw one not yet in effect) and budgets
(set, remove, the periodic threshold check, the refusal of requests over budget)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.choices import InvoiceStatus
from billing.costs import THRESHOLDS, MonthCost, crossed, month_period
from billing.models import Budget, BudgetAlert, FlavorPrice, Invoice, PriceList
from billing.selectors import billing_currency, tenant_month_cost
from compute.models import Flavor
from portal import events
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import Tenant, User
from portal.permissions import Perm, require_perm, require_platform_perm

logger = logging.getLogger(__name__)

PRICE_FIELDS = ("vcpu_hour", "ram_gib_hour", "disk_gib_hour", "snapshot_gib_hour")


def _when(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def _overlap_errors(candidate: PriceList) -> dict[str, str]:
    """Compare with the other lists of the currency (locked by the caller) for overlaps.

    A list without an explicit end stops where the next one starts, so a new list may be put
    between two others; it overlaps only an explicit end that reaches past its start, or a
    list starting at the same instant.
    """
    same = PriceList.objects.filter(currency=candidate.currency)
    start, end = candidate.effective_from, candidate.effective_to
    clash = same.filter(effective_from=start).first()
    if clash is not None:
        return {
            "effective_from": _("The price list '%(name)s' in %(cur)s already starts then.")
            % {"name": clash.name, "cur": candidate.currency}
        }
    before = same.filter(effective_from__lt=start).order_by("-effective_from").first()
    if before is not None and before.effective_to is not None and before.effective_to > start:
        return {
            "effective_from": _(
                "This overlaps the price list '%(name)s', which runs until %(end)s."
            )
            % {"name": before.name, "end": _when(before.effective_to)}
        }
    after = same.filter(effective_from__gt=start).order_by("effective_from").first()
    if after is not None and end is not None and end > after.effective_from:
        return {
            "effective_to": _("This overlaps the price list '%(name)s', which starts at %(start)s.")
            % {"name": after.name, "start": _when(after.effective_from)}
        }
    return {}


def invoiced_until(currency: str) -> datetime | None:
    """The end of the last period invoiced (issued) in this currency: prices before it are
    settled, since those invoices were valued with the lists then in effect."""
    last = (
        Invoice.objects.unscoped()
        .filter(currency=currency, status=InvoiceStatus.ISSUED)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    return last


def _invoiced_errors(currency: str, when: datetime, field: str) -> dict[str, str]:
    settled = invoiced_until(currency)
    if settled is not None and when < settled:
        return {
            field: _(
                "Invoices in %(cur)s are issued up to %(end)s with the prices then in effect: "
                "a price list cannot change anything before that."
            )
            % {"cur": currency, "end": _when(settled)}
        }
    return {}


@transaction.atomic
def price_list_create(
    *,
    created_by: User,
    name: str,
    currency: str,
    effective_from: datetime,
    vcpu_hour: Decimal,
    ram_gib_hour: Decimal,
    disk_gib_hour: Decimal,
    snapshot_gib_hour: Decimal = Decimal("0"),
    effective_to: datetime | None = None,
    flavor_prices: Mapping[Flavor, Decimal] | None = None,
    remote_addr: str | None = None,
) -> PriceList:
    """A new price list. Usage across its start is split there exactly."""
    require_platform_perm(created_by, Perm.PRICE_MANAGE)
    price_list = PriceList(
        name=name.strip(),
        currency=currency.strip().upper(),
        effective_from=effective_from,
        effective_to=effective_to,
        vcpu_hour=vcpu_hour,
        ram_gib_hour=ram_gib_hour,
        disk_gib_hour=disk_gib_hour,
        snapshot_gib_hour=snapshot_gib_hour,
        created_by=created_by,
    )
    errors: dict[str, str] = {}
    try:
        price_list.full_clean(exclude=["created_by"], validate_constraints=False)
    except ValidationError as exc:
        errors.update({f: " ".join(msgs) for f, msgs in exc.message_dict.items()})
    for fname in ("effective_from", "effective_to"):
        value = getattr(price_list, fname)
        if value is not None and timezone.is_naive(value):
            errors[fname] = _("Give a time zone (for example 2025-04-01T00:00:00Z).")
    if not errors and effective_to is not None and effective_to <= effective_from:
        errors["effective_to"] = _("The end must come after the start.")
    negative = [f.name for f, price in (flavor_prices or {}).items() if price < 0]
    if negative:
        errors["flavor_prices"] = _("A price cannot be negative (flavor %(names)s).") % {
            "names": ", ".join(negative)
        }
    if errors:
        raise ValidationError(errors)
    # Lock the currency's lists so two concurrent creations cannot both pass the overlap check
    # (the unique start is the database's own backstop).
    list(PriceList.objects.select_for_update().filter(currency=price_list.currency))
    errors = _invoiced_errors(price_list.currency, effective_from, "effective_from")
    errors = errors or _overlap_errors(price_list)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            price_list.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"effective_from": _("Another price list in this currency starts then.")}
        ) from exc
    FlavorPrice.objects.bulk_create(
        FlavorPrice(price_list=price_list, flavor=flavor, per_hour=price)
        for flavor, price in (flavor_prices or {}).items()
    )
    audit_record(
        actor=created_by,
        action="price_list.create",
        obj=price_list,
        remote_addr=remote_addr,
        changes={
            "currency": price_list.currency,
            "effective_from": effective_from.isoformat(),
            "effective_to": effective_to.isoformat() if effective_to else None,
            **{f: str(getattr(price_list, f)) for f in PRICE_FIELDS},
            "flavor_prices": {f.name: str(p) for f, p in (flavor_prices or {}).items()},
        },
    )
    return price_list


@transaction.atomic
def price_list_delete(
    *, deleted_by: User, price_list: PriceList, remote_addr: str | None = None
) -> None:
    """Withdraw a list that has not taken effect; one in effect has valued usage already."""
    require_platform_perm(deleted_by, Perm.PRICE_MANAGE)
    locked = PriceList.objects.select_for_update().get(pk=price_list.pk)
    if locked.effective_from <= timezone.now():
        raise ConflictError(
            _(
                "The price list '%(name)s' is already in effect and usage has been valued with "
                "it; create a new price list instead."
            )
            % {"name": locked.name}
        )
    audit_record(
        actor=deleted_by,
        action="price_list.delete",
        obj=locked,
        remote_addr=remote_addr,
        changes={"currency": locked.currency, "effective_from": locked.effective_from.isoformat()},
    )
    locked.delete()


@transaction.atomic
def price_list_end(
    *,
    ended_by: User,
    price_list: PriceList,
    effective_to: datetime,
    remote_addr: str | None = None,
) -> PriceList:
    """End a list at an instant to come (after it, the next list applies, or none): the usage
    it has valued so far keeps its prices."""
    require_platform_perm(ended_by, Perm.PRICE_MANAGE)
    locked = PriceList.objects.select_for_update().get(pk=price_list.pk)
    errors: dict[str, str] = {}
    if timezone.is_naive(effective_to):
        errors["effective_to"] = _("Give a time zone (for example 2025-04-01T00:00:00Z).")
    elif effective_to <= locked.effective_from:
        errors["effective_to"] = _("The end must come after the start.")
    elif locked.effective_to is not None and effective_to >= locked.effective_to:
        errors["effective_to"] = _("This list already ends at %(end)s.") % {
            "end": _when(locked.effective_to)
        }
    elif effective_to < timezone.now():
        errors["effective_to"] = _(
            "An end in the past would change usage already valued with this list; "
            "end it from now on."
        )
    else:
        errors = _invoiced_errors(locked.currency, effective_to, "effective_to")
    if errors:
        raise ValidationError(errors)
    previous = locked.effective_to
    locked.effective_to = effective_to
    locked.save(update_fields=["effective_to"])
    audit_record(
        actor=ended_by,
        action="price_list.end",
        obj=locked,
        remote_addr=remote_addr,
        changes={
            "effective_to": [
                previous.isoformat() if previous else None,
                effective_to.isoformat(),
            ]
        },
    )
    return locked


# --- budgets -----------------------------------------------------------------------------------

MAX_BUDGET = Decimal("999999999999.99")  # what the column holds


def _amount_errors(amount: Any) -> dict[str, str]:
    try:
        value = Decimal(str(amount).strip()) if amount is not None else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        return {"amount": _("Give the monthly amount as a number, such as 250 or 99.50.")}
    if value < 0:
        return {"amount": _("A budget cannot be negative.")}
    if value == 0:
        return {"amount": _("Give an amount above zero; remove the budget to have none.")}
    if value != value.quantize(Decimal("0.01")):
        return {"amount": _("Give at most two decimal places.")}
    if value > MAX_BUDGET:
        return {"amount": _("Give at most %(max)s.") % {"max": MAX_BUDGET}}
    return {}


@transaction.atomic
def budget_set(
    *,
    updated_by: User,
    tenant: Tenant,
    amount: Decimal,
    block_requests: bool = False,
    remote_addr: str | None = None,
) -> Budget:
    """Create or change the tenant's monthly budget (in the billing currency)."""
    require_perm(updated_by, tenant, Perm.BUDGET_MANAGE)
    errors = _amount_errors(amount)
    if errors:
        raise ValidationError(errors)
    amount = Decimal(str(amount)).quantize(Decimal("0.01"))
    # The tenant row is the lock: two first settings of a budget cannot both insert.
    Tenant.objects.unscoped().select_for_update().filter(pk=tenant.pk).first()
    budget = Budget.objects.unscoped().filter(tenant=tenant).first()
    before = (
        {"amount": str(budget.amount), "block_requests": budget.block_requests} if budget else {}
    )
    if budget is None:
        budget = Budget(tenant=tenant)
    budget.amount, budget.block_requests, budget.updated_by = amount, block_requests, updated_by
    budget.save()
    after = {"amount": str(amount), "block_requests": block_requests}
    audit_record(
        actor=updated_by,
        action="budget.set",
        obj=budget,
        tenant=tenant,
        remote_addr=remote_addr,
        changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v},
    )
    return budget


@transaction.atomic
def budget_create(
    *,
    created_by: User,
    tenant: Tenant,
    amount: Decimal,
    block_requests: bool = False,
    remote_addr: str | None = None,
) -> Budget:
    """A tenant's first budget (the API's POST); one that has one is changed, not created."""
    require_perm(created_by, tenant, Perm.BUDGET_MANAGE)
    existing = Budget.objects.unscoped().filter(tenant=tenant).first()
    if existing is not None:
        raise ValidationError(
            {
                "tenant": _(
                    "This tenant has a budget already: change it with PATCH "
                    "/api/v1/budgets/%(id)s/."
                )
                % {"id": existing.pk}
            }
        )
    return budget_set(
        updated_by=created_by,
        tenant=tenant,
        amount=amount,
        block_requests=block_requests,
        remote_addr=remote_addr,
    )


def budget_update(
    *,
    updated_by: User,
    budget: Budget,
    amount: Decimal | None = None,
    block_requests: bool | None = None,
    remote_addr: str | None = None,
) -> Budget:
    """A partial change (the API's PATCH): what is not given keeps its value."""
    return budget_set(
        updated_by=updated_by,
        tenant=budget.tenant,
        amount=budget.amount if amount is None else amount,
        block_requests=budget.block_requests if block_requests is None else block_requests,
        remote_addr=remote_addr,
    )


@transaction.atomic
def budget_delete(*, deleted_by: User, budget: Budget, remote_addr: str | None = None) -> None:
    require_perm(deleted_by, budget.tenant, Perm.BUDGET_MANAGE)
    audit_record(
        actor=deleted_by,
        action="budget.delete",
        obj=budget,
        tenant=budget.tenant,
        remote_addr=remote_addr,
        changes={"amount": str(budget.amount), "block_requests": budget.block_requests},
    )
    budget.delete()


def budget_refusal(*, tenant: Tenant, now: datetime | None = None) -> str | None:
    """Why a new VM request must be refused (blocking on, month's actual cost ≥ budget)."""
    budget = Budget.objects.unscoped().filter(tenant=tenant, block_requests=True).first()
    if budget is None:
        return None
    cost = tenant_month_cost(tenant=tenant, now=now)
    if cost.total < budget.amount:
        return None
    return _(
        "The monthly budget of %(tenant)s is used up (%(actual)s of %(amount)s %(currency)s "
        "this month), and it blocks new requests. A tenant admin can raise the budget or turn "
        "blocking off; otherwise requests are accepted again next month."
    ) % {
        "tenant": tenant.name,
        "actual": cost.total,
        "amount": budget.amount,
        "currency": billing_currency(),
    }


def _alert_data(alert: BudgetAlert, budget: Budget) -> dict[str, Any]:
    return {
        "budget": {
            "month": f"{alert.month:%Y-%m}",
            "amount": str(alert.budget_amount),
            "currency": billing_currency(),
            "threshold": alert.threshold,
            "basis": alert.basis,
            "actual": str(alert.actual),
            "forecast": str(alert.forecast),
            "block_requests": budget.block_requests,
        }
    }


@transaction.atomic
def budget_evaluate(*, budget: Budget, now: datetime | None = None) -> list[BudgetAlert]:
    """Record and announce each threshold this month's cost has newly reached.

    Idempotent: a threshold already recorded for this month and amount is never announced
    again (the unique constraint settles two concurrent checks too).
    """
    now = now or timezone.now()
    tenant = budget.tenant
    start, _end = month_period(tenant.zone, now)
    month = start.astimezone(tenant.zone).date()
    done = set(
        BudgetAlert.objects.unscoped()
        .filter(tenant=tenant, month=month, budget_amount=budget.amount)
        .values_list("threshold", "basis")
    )
    actual = BudgetAlert.Basis.ACTUAL
    if {(p, actual) for p in THRESHOLDS} <= done:
        return []  # everything said for this month: no need to compute the cost
    cost: MonthCost = tenant_month_cost(tenant=tenant, now=now)
    created: list[BudgetAlert] = []
    for percent, basis in crossed(budget.amount, cost):
        # Reached in fact after a forecast said so: said again. A forecast after the fact: not.
        if (percent, basis) in done or (percent, actual) in done:
            continue
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    tenant=tenant,
                    month=month,
                    threshold=percent,
                    budget_amount=budget.amount,
                    basis=basis,
                    actual=cost.total,
                    forecast=cost.forecast,
                )
        except IntegrityError:
            continue  # a concurrent check recorded it first, and announces it
        audit_record(
            actor=None,
            action="budget.threshold",
            obj=alert,
            tenant=tenant,
            changes={"threshold": percent, "basis": basis, "actual": str(cost.total)},
        )
        events.emit("budget.threshold", tenant=tenant, payload=_alert_data(alert, budget))
        created.append(alert)
    return created


def budget_check(*, now: datetime | None = None) -> list[BudgetAlert]:
    """The periodic check (beat): every budget, each in its own transaction."""
    alerts: list[BudgetAlert] = []
    for budget in Budget.objects.unscoped().select_related("tenant").order_by("tenant_id"):
        try:
            alerts += budget_evaluate(budget=budget, now=now)
        except Exception:  # one tenant's failure must not silence the others
            logger.exception("budget check failed for tenant %s", budget.tenant_id)
    return alerts
