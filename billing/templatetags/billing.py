"""Cost in templates: each flavor's estimate (request form), a VM's month so far (VM page),
the budget card (tenant page)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import QuerySet

from billing.choices import Resource
from billing.costs import sum_by
from billing.forms import BudgetForm
from billing.models import Budget
from billing.rating.python import flavor_estimate
from billing.selectors import billing_currency, month_cost, prices_current
from compute.models import Flavor, VirtualMachine
from portal.models import Tenant
from portal.permissions import Perm, has_perm

register = template.Library()


@register.inclusion_tag("billing/_cost_estimate.html", takes_context=True)
def flavor_cost_estimates(
    context: dict[str, Any], flavors: QuerySet[Flavor], selected: Any
) -> dict[str, Any]:
    user = context["request"].user
    prices = prices_current(fetched_by=user)
    estimates: dict[str, dict[str, str]] = {}
    if prices is not None:
        for flavor in flavors:
            e = flavor_estimate(
                prices,
                flavor_id=flavor.pk,
                vcpus=flavor.vcpus,
                ram_mib=flavor.ram_mib,
                disk_gib=flavor.disk_gib,
            )
            estimates[str(flavor.pk)] = {
                "hour": f"{e.per_hour} {e.currency}",
                "month": f"{e.per_month} {e.currency}",
            }
    return {
        "has_prices": prices is not None,
        "estimates": estimates,
        "selected": estimates.get(str(selected or "")),
    }


@register.simple_tag(takes_context=True)
def vm_month_cost(context: dict[str, Any], vm: VirtualMachine) -> dict[str, Any]:
    """The VM's cost so far in its tenant's current month, per resource (its events only)."""
    cost = month_cost(fetched_by=context["request"].user, tenant=vm.tenant, vm=vm)
    return {
        "total": cost.total,
        "forecast": cost.forecast,
        "rate": cost.run_rate,
        "currency": billing_currency(),
        "month_start": cost.start.astimezone(cost.zone),
        "as_of": cost.now.astimezone(cost.zone),
        "zone": vm.tenant.timezone,
        "by_resource": [
            (Resource(r).label, amount)
            for r, amount in sum_by(cost.lines, lambda ln: ln.resource).items()
        ],
    }


@register.inclusion_tag("billing/_budget_card.html", takes_context=True)
def budget_card(context: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
    """The tenant's budget with its form for those who may set it (posted to /costs/)."""
    request = context["request"]
    budget = Budget.objects.unscoped().filter(tenant=tenant).first()
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "tenant": tenant,
        "budget": budget,
        "currency": billing_currency(),
        "can_manage": has_perm(request.user, tenant, Perm.BUDGET_MANAGE),
        "form": BudgetForm(
            initial={"amount": budget.amount, "block_requests": budget.block_requests}
            if budget
            else None
        ),
        "next": request.get_full_path(),
    }


@register.simple_tag(takes_context=True)
def flavors_with_estimates(
    context: dict[str, Any], flavors: QuerySet[Flavor]
) -> list[tuple[Flavor, Any]]:
    """Each flavor with its estimated cost while running (per hour and per 730-hour month), or
    None when no price list is in effect."""
    prices = prices_current(fetched_by=context["request"].user)
    return [
        (
            flavor,
            flavor_estimate(
                prices,
                flavor_id=flavor.pk,
                vcpus=flavor.vcpus,
                ram_mib=flavor.ram_mib,
                disk_gib=flavor.disk_gib,
            )
            if prices is not None
            else None,
        )
        for flavor in flavors
    ]


@register.simple_tag(takes_context=True)
def flavor_estimate_of(context: dict[str, Any], flavor: Flavor) -> dict[str, str] | None:
    """One flavor's estimated cost while running (per hour, per month of 730 hours) on the
    list in effect now, or None without one. The list is read once per page."""
    request = context["request"]
    if not hasattr(request, "_nuage_prices"):
        request._nuage_prices = prices_current(fetched_by=request.user)
    prices = request._nuage_prices
    if prices is None:
        return None
    e = flavor_estimate(
        prices,
        flavor_id=flavor.pk,
        vcpus=flavor.vcpus,
        ram_mib=flavor.ram_mib,
        disk_gib=flavor.disk_gib,
    )
    return {"hour": f"{e.per_hour} {e.currency}", "month": f"{e.per_month} {e.currency}"}
