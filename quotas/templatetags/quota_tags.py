"""Template tags that show quota bars on pages of other apps (VM list, request form)."""

from __future__ import annotations

from typing import Any

from django import template

from portal.models import User
from quotas import selectors, services
from quotas.models import Quota
from quotas.usage import bars

register = template.Library()


@register.inclusion_tag("quotas/_quota_summary.html")
def quota_summary(user: User, tenant: Any = None) -> dict[str, Any]:
    """The quotas of the tenant the page follows; none on "all tenants" (the quota overview
    page lists every tenant's, and 150 environments' bars do not belong under a VM list)."""
    if not user.is_authenticated or tenant is None:
        return {"rows": []}
    quotas = list(selectors.quota_list(fetched_by=user).filter(environment__tenant=tenant))
    return {"rows": [(q, bars(q)) for q in quotas]}


@register.inclusion_tag("quotas/_fit_data.html")
def quota_fit_data(user: User) -> dict[str, Any]:
    """What the request form's script needs to say whether a flavor fits: left per environment."""
    from compute.selectors import flavor_list

    quotas = selectors.quota_list(fetched_by=user)
    return {
        "fit": {
            "environments": {
                str(q.environment_id): {
                    "name": q.environment.name,
                    "left": {b.resource: b.left for b in bars(q)},
                    "limit": {b.resource: b.limit for b in bars(q)},
                }
                for q in quotas
            },
            "flavors": {
                str(f.pk): services.flavor_amounts(f) for f in flavor_list(fetched_by=user)
            },
            "labels": {b.resource: b.label for q in quotas[:1] for b in bars(q)},
        }
    }


@register.simple_tag
def quota_impacts(vms: Any) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Each pending request with what it takes of its environment's quota (already reserved
    for it), next to what is used, reserved and allowed: one row per resource it needs. The
    environments' quotas are read in one query."""
    vms = list(vms)
    # The requests were read through the approver's scope: their environments' quotas are theirs.
    in_envs = {vm.environment_id for vm in vms}
    quotas = {
        q.environment_id: q for q in Quota.objects.unscoped().filter(environment_id__in=in_envs)
    }
    result = []
    for vm in vms:
        quota = quotas.get(vm.environment_id)
        rows = []
        if quota is not None:
            need = services.flavor_amounts(vm.resize_to or vm.flavor)
            for bar in bars(quota):
                amount = need.get(bar.resource, 0)
                if amount:
                    rows.append(
                        {
                            "label": bar.label,
                            "resource": bar.resource,
                            "need": amount,
                            "used": bar.used,
                            "reserved": bar.reserved,
                            "taken": bar.used + bar.reserved,
                            "limit": bar.limit,
                            "over": bar.used + bar.reserved > bar.limit,
                        }
                    )
        result.append((vm, rows))
    return result
