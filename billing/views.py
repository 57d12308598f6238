"""Browser views of cost: a tenant's month (with its budget) and the finance usage page."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from billing import selectors, services
from billing.choices import RESOURCE_UNITS, Resource
from billing.costs import MonthCost, sum_by
from billing.forms import BudgetForm, PeriodForm, PriceListAtForm, PriceListEndForm, PriceListForm
from billing.models import Budget, PriceList
from billing.periods import day_bounds
from billing.rating.python import UsageLine, total
from compute.models import VirtualMachine
from portal.charts import Series, bar_chart
from portal.models import Environment, Tenant, User
from portal.permissions import Perm, has_perm, platform_perms
from portal.tenancy import current_tenant

MAX_ROWS = 500  # longer tables are in the downloads
TENANTS_CHARTED = 20


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _resources_of(lines: Iterable[UsageLine]) -> list[str]:
    present = {ln.resource for ln in lines}
    return [r for r in Resource.values if r in present]


def _unit_hours(line: UsageLine) -> Decimal:
    return line.quantity * line.seconds / 3600


def _names(model: Any, ids: Iterable[int], field: str = "name") -> dict[int, str]:
    return dict(model.objects.filter(pk__in=set(ids)).values_list("pk", field))


def _percent(part: Decimal, whole: Decimal) -> int:
    return int(part * 100 / whole) if whole else 0


# --- a tenant's month --------------------------------------------------------------------------


def budget_status(budget: Budget | None, cost: MonthCost) -> dict[str, Any] | None:
    if budget is None:
        return None
    used = _percent(cost.total, budget.amount)
    forecast = _percent(cost.forecast, budget.amount)
    return {
        "budget": budget,
        "used_percent": used,
        "forecast_percent": forecast,
        "meter": min(used, 100),
        "state": "over" if used >= 100 else "warn" if used >= 80 or forecast >= 100 else "ok",
        "blocking": budget.block_requests and cost.total >= budget.amount,
    }


def _daily_chart(cost: MonthCost, budget: Budget | None, currency: str) -> str:
    resources = _resources_of(cost.lines)
    per_day = [sum_by(lines, lambda ln: ln.resource) for _day, lines in cost.days]
    month = cost.month
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    return bar_chart(
        [str(day.day) for day, _lines in cost.days],
        [
            Series(str(Resource(r).label), [d.get(r, Decimal("0")) for d in per_day])
            for r in resources
        ],
        title=_("Daily cost by resource, %(month)s (%(currency)s)")
        % {"month": formats.date_format(month, "YEAR_MONTH_FORMAT"), "currency": currency},
        unit=f" {currency}",
        limit=(budget.amount / days_in_month).quantize(Decimal("0.01")) if budget else None,
        limit_label=_("Budget per day"),
    )


@login_required
def costs(request: HttpRequest) -> HttpResponse:
    """The current tenant's month so far: totals, forecast, budget, days, environments, VMs."""
    user = _user(request)
    tenant = current_tenant(request)
    if tenant is None:  # "All tenants" in the header: finance's page is the one for that
        if Perm.USAGE_VIEW_ALL in platform_perms(user):
            return redirect("billing:finance")
        messages.info(request, _("Choose a tenant in the header to see its costs."))
        return redirect("ui:vm-list")
    can_manage = has_perm(user, tenant, Perm.BUDGET_MANAGE)
    form: BudgetForm | None = None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied(_("Your role in this tenant does not allow this action."))
        budget = Budget.objects.unscoped().filter(tenant=tenant).first()
        form = _budget_form(request, budget)
        done = _budget_post(request, tenant, budget, form)
        if done is not None:
            return done
        status = 400
    # The month, its budget and alerts and the names its lines need: one query.
    page = selectors.costs_page(fetched_by=user, tenant=tenant)
    cost, budget = page.cost, page.budget
    if form is None:
        form = _budget_form(request, budget)
    currency = selectors.billing_currency()
    vm_names, env_names = page.vm_names, page.environment_names
    vm_env = {ln.vm_id: ln.environment_id for ln in cost.lines}
    # Data volumes show in the totals, environments and resources; this table lists VMs.
    by_vm = sum_by((ln for ln in cost.lines if ln.volume_id is None), lambda ln: ln.vm_id)
    context = {
        "tenant": tenant,
        "cost": cost,
        "currency": currency,
        "zone": tenant.timezone,
        "month_start": cost.start.astimezone(cost.zone),
        "as_of": cost.now.astimezone(cost.zone),
        "status": budget_status(budget, cost),
        "alerts": page.alerts,
        "form": form,
        "can_manage": can_manage,
        "chart": _daily_chart(cost, budget, currency) if cost.days else "",
        "days": [(day, total(lines)) for day, lines in cost.days],
        "days_sum": sum((total(lines) for _d, lines in cost.days), Decimal("0.00")),
        "by_environment": [
            (env_names.get(env_id, "?"), amount)
            for env_id, amount in sum_by(cost.lines, lambda ln: ln.environment_id).items()
        ],
        "by_vm": [
            (vm_id, vm_names.get(vm_id, "?"), env_names.get(vm_env[vm_id], "?"), amount)
            for vm_id, amount in list(by_vm.items())[:MAX_ROWS]
        ],
        "vm_rows_cut": len(by_vm) > MAX_ROWS,
        "by_resource": _resource_rows(cost.lines),
    }
    return render(request, "billing/costs.html", context, status=status)


def _budget_form(request: HttpRequest, budget: Budget | None) -> BudgetForm:
    return BudgetForm(
        request.POST if request.method == "POST" and request.POST.get("do") != "delete" else None,
        initial={"amount": budget.amount, "block_requests": budget.block_requests}
        if budget
        else None,
    )


def _budget_post(
    request: HttpRequest, tenant: Tenant, budget: Budget | None, form: BudgetForm
) -> HttpResponse | None:
    """Save or remove the budget; None when the form has errors to show."""
    user, address = _user(request), request.META.get("REMOTE_ADDR")
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    if request.POST.get("do") == "delete":
        if budget is not None:
            services.budget_delete(deleted_by=user, budget=budget, remote_addr=address)
            messages.success(request, _("Budget removed."))
        return redirect(target or "billing:costs")
    if not form.is_valid():
        return None
    try:
        services.budget_set(
            updated_by=user,
            tenant=tenant,
            amount=form.cleaned_data["amount"],
            block_requests=form.cleaned_data["block_requests"],
            remote_addr=address,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None
    messages.success(request, _("Budget saved."))
    return redirect(target or "billing:costs")


def _resource_rows(lines: Sequence[UsageLine]) -> list[dict[str, Any]]:
    amounts = sum_by(lines, lambda ln: ln.resource)
    rows = []
    for r in _resources_of(lines):
        hours = sum((_unit_hours(ln) for ln in lines if ln.resource == r), Decimal("0"))
        rows.append(
            {
                "resource": Resource(r).label,
                "usage": hours.quantize(Decimal("0.01")),
                "unit": _("%(unit)s-hours") % {"unit": _(RESOURCE_UNITS[r])},
                "amount": amounts[r],
            }
        )
    return rows


# --- the finance page --------------------------------------------------------------------------


def _platform_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@login_required
def finance(request: HttpRequest) -> HttpResponse:
    """Usage and cost of any period for every tenant (finance and platform admins)."""
    user = _user(request)
    if Perm.USAGE_VIEW_ALL not in platform_perms(user):
        raise Http404  # as for a page that does not exist: nothing to see for this role
    now = timezone.now()
    today = now.astimezone(_platform_zone()).date()
    form = PeriodForm(
        request.GET or {"start": today.replace(day=1), "end": today}, user=user, today=today
    )
    context: dict[str, Any] = {
        "form": form,
        "currency": selectors.billing_currency(),
        "can_prices": Perm.PRICE_MANAGE in platform_perms(user),
    }
    if form.is_valid():
        tenant: Tenant | None = form.cleaned_data["tenant"]
        zone = tenant.zone if tenant else _platform_zone()
        first: date = form.cleaned_data["start"]
        last: date = form.cleaned_data["end"]
        start = day_bounds(zone, first)[0]
        end = min(day_bounds(zone, last)[1], now)
        if end > start:
            lines = selectors.usage_report(fetched_by=user, start=start, end=end, tenant=tenant)
            context.update(_finance_context(lines, context["currency"]))
        context.update(
            {
                "zone": str(zone),
                "start": start.astimezone(zone),
                "end": end.astimezone(zone),
                "downloads": _downloads(start, end, tenant),
            }
        )
    return render(request, "billing/finance.html", context, status=200 if form.is_valid() else 400)


def _downloads(start: datetime, end: datetime, tenant: Tenant | None) -> list[tuple[str, str]]:
    """The usage API's own export of the same period (the instants, not the dates)."""
    query: dict[str, str] = {"start": start.isoformat(), "end": end.isoformat()}
    if tenant is not None:
        query["tenant"] = tenant.slug
    base = reverse("usage")
    return [
        (label, f"{base}?{urlencode({'format': fmt, **query})}")
        for fmt, label in (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("pdf", "PDF"))
    ]


def _finance_context(lines: list[UsageLine], currency: str) -> dict[str, Any]:
    tenants = _names(Tenant, (ln.tenant_id for ln in lines))
    envs = _names(Environment, (ln.environment_id for ln in lines))
    vms = _names(VirtualMachine, (ln.vm_id for ln in lines))
    resources = _resources_of(lines)
    by_tenant = sum_by(lines, lambda ln: ln.tenant_id)
    by_tenant_resource = sum_by(lines, lambda ln: (ln.tenant_id, ln.resource))
    charted = list(by_tenant)[:TENANTS_CHARTED]
    by_vm = sum_by((ln for ln in lines if ln.volume_id is None), lambda ln: ln.vm_id)
    vm_of = {ln.vm_id: (ln.tenant_id, ln.environment_id) for ln in lines}
    vm_hours: dict[tuple[int, str], Decimal] = {}
    for ln in lines:
        key = (ln.vm_id, ln.resource)
        vm_hours[key] = vm_hours.get(key, Decimal("0")) + _unit_hours(ln)
    resource_rows = _resource_rows(lines)
    zero = Decimal("0")
    return {
        "has_usage": bool(lines),
        "total": total(lines),
        "resources": [(r, Resource(r).label, _(RESOURCE_UNITS[r])) for r in resources],
        "tenant_chart": bar_chart(
            [tenants.get(t, "?") for t in charted],
            [
                Series(
                    str(Resource(r).label), [by_tenant_resource.get((t, r), zero) for t in charted]
                )
                for r in resources
            ],
            title=_("Cost per tenant (%(currency)s)") % {"currency": currency},
            unit=f" {currency}",
        ),
        "resource_chart": bar_chart(
            [str(row["resource"]) for row in resource_rows],
            [Series(_("Cost"), [row["amount"] for row in resource_rows])],
            title=_("Cost by resource (%(currency)s)") % {"currency": currency},
            unit=f" {currency}",
            width=420,  # half a page wide: keep its labels readable
        ),
        "by_tenant": [
            (
                tenants.get(t, "?"),
                [by_tenant_resource.get((t, r), zero) for r in resources],
                amount,
            )
            for t, amount in by_tenant.items()
        ],
        "by_environment": [
            (tenants.get(t, "?"), envs.get(e, "?"), amount)
            for (t, e), amount in sum_by(
                lines, lambda ln: (ln.tenant_id, ln.environment_id)
            ).items()
        ],
        "by_vm": [
            (
                vm_id,
                vms.get(vm_id, "?"),
                tenants.get(vm_of[vm_id][0], "?"),
                envs.get(vm_of[vm_id][1], "?"),
                [vm_hours.get((vm_id, r), zero).quantize(Decimal("0.01")) for r in resources],
                amount,
            )
            for vm_id, amount in list(by_vm.items())[:MAX_ROWS]
        ],
        "vm_rows_cut": len(by_vm) > MAX_ROWS,
        "by_resource": resource_rows,
    }


def _price_list_rows(lists: Iterable[PriceList], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for pl in lists:
        ends = [t for t in (pl.effective_to, getattr(pl, "next_from", None)) if t is not None]
        until = min(ends) if ends else None
        if pl.effective_from > now:
            status, label = "scheduled", _("Scheduled")
        elif until is not None and until <= now:
            status, label = "ended", _("Ended")
        else:
            status, label = "current", _("In effect now")
        rows.append({"list": pl, "until": until, "status": status, "label": label})
    return rows


@login_required
def price_lists(request: HttpRequest) -> HttpResponse:
    """Finance's price lists: which applies now (or at a date), create one, end one."""
    user = _user(request)
    if Perm.PRICE_MANAGE not in platform_perms(user):
        raise Http404  # as for a page that does not exist: nothing to see for this role
    zone = _platform_zone()
    now = timezone.now()
    currency = selectors.billing_currency()
    form = PriceListForm(initial={"currency": currency, "vcpu_hour": "0", "snapshot_gib_hour": "0"})
    end_errors: dict[int, list[str]] = {}
    status = 200
    if request.method == "POST":
        addr = request.META.get("REMOTE_ADDR")
        if request.POST.get("do") == "end":
            target = get_object_or_404(
                selectors.price_list_list(fetched_by=user), pk=request.POST.get("price_list") or 0
            )
            end_form = PriceListEndForm(request.POST)
            if end_form.is_valid():
                try:
                    services.price_list_end(
                        ended_by=user,
                        price_list=target,
                        effective_to=_aware(end_form.cleaned_data["effective_to"], zone),
                        remote_addr=addr,
                    )
                except ValidationError as exc:
                    end_errors[target.pk] = [m for ms in exc.message_dict.values() for m in ms]
                else:
                    messages.success(
                        request, _("Price list %(name)s ends as set.") % {"name": target.name}
                    )
                    return redirect("billing:price-lists")
            else:
                end_errors[target.pk] = [str(m) for ms in end_form.errors.values() for m in ms]
            status = 400
        else:
            form = PriceListForm(request.POST)
            if form.is_valid():
                data = dict(form.cleaned_data)
                data["effective_from"] = _aware(data["effective_from"], zone)
                try:
                    created = services.price_list_create(created_by=user, remote_addr=addr, **data)
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    messages.success(
                        request, _("Price list %(name)s created.") % {"name": created.name}
                    )
                    return redirect("billing:price-lists")
            status = 400
    at_form = PriceListAtForm(request.GET or None)
    at = now
    if at_form.is_bound and at_form.is_valid() and at_form.cleaned_data["at"]:
        at = _aware(at_form.cleaned_data["at"], zone)
    applies = selectors.price_list_current(fetched_by=user, at=at)
    lists = selectors.price_list_list(fetched_by=user).order_by("currency", "-effective_from")
    return render(
        request,
        "billing/price_lists.html",
        {
            "form": form,
            "rows": _price_list_rows(lists, now),
            "end_errors": end_errors,
            "at_form": at_form,
            "at": at.astimezone(zone),
            "applies": applies,
            "currency": currency,
            "invoiced_until": services.invoiced_until(currency),
            "zone": str(zone),
        },
        status=status,
    )


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return value if timezone.is_aware(value) else value.replace(tzinfo=zone)
