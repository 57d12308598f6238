"""The estimated cost of each flavor, rendered on the VM request form."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import QuerySet

from billing.selectors import price_list_current, prices_of
from billing.usage import flavor_estimate
from compute.models import Flavor

register = template.Library()


@register.inclusion_tag("billing/_cost_estimate.html", takes_context=True)
def flavor_cost_estimates(
    context: dict[str, Any], flavors: QuerySet[Flavor], selected: Any
) -> dict[str, Any]:
    user = context["request"].user
    current = price_list_current(fetched_by=user)
    estimates: dict[str, dict[str, str]] = {}
    if current is not None:
        prices = prices_of(current)
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
        "has_prices": current is not None,
        "estimates": estimates,
        "selected": estimates.get(str(selected or "")),
    }
