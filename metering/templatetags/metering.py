"""What the VM page shows of its measured use: the figures, the hourly CPU chart, the hint
(`{% load metering %}{% vm_metrics_card vm %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from compute.models import VirtualMachine
from metering.selectors import vm_metrics
from portal.charts import Series, bar_chart
from portal.models import User

register = template.Library()


def vm_metrics_context(*, fetched_by: User, vm: VirtualMachine) -> dict[str, Any]:
    # The page found the VM in the user's scope already.
    metrics = vm_metrics(fetched_by=fetched_by, vm_id=vm.pk, in_scope=vm)
    zone = vm.tenant.zone  # hours as the tenant's clocks show them
    hours = [timezone.localtime(h.hour, zone).strftime("%H:00") for h in metrics.hourly_cpu]
    chart = bar_chart(
        hours,
        [Series(_("CPU used"), [h.cpu_avg_vcpus or 0.0 for h in metrics.hourly_cpu])],
        title=_("Mean CPU use per hour over the last 24 hours, in vCPUs"),
        unit=" " + _("vCPU"),
        limit=vm.flavor.vcpus,
        limit_label=_("Allocated"),
        height=180,
    )
    windows = [
        (_("Last hour"), metrics.last_hour),
        (_("Last 24 hours"), metrics.last_day),
        (_("Last 30 days"), metrics.last_30_days),
    ]
    return {
        "metrics": metrics,
        "metrics_windows": windows,
        "metrics_chart": chart,
        "metrics_hours": round(metrics.measured_hours),
    }


@register.inclusion_tag("metering/_vm_metrics.html", takes_context=True)
def vm_metrics_card(context: dict[str, Any], vm: VirtualMachine) -> dict[str, Any]:
    """The VM page's "Measured use" card, for the user viewing the page."""
    return {"vm": vm, **vm_metrics_context(fetched_by=context["request"].user, vm=vm)}
