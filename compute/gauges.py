"""compute's scrape-time gauges (VMs by state, operations in flight, hosts by status) and the
hosts summary of /readyz; registered with portal in ComputeConfig.ready."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery
from prometheus_client.core import GaugeMetricFamily, Metric

from compute.choices import HostStatus, OperationStatus, StepStatus, VMState
from compute.models import Host, Operation, OperationStep, VirtualMachine, host_status

ACTIVE = (OperationStatus.PENDING, OperationStatus.RUNNING)


def vms_source() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "nuage_vms", "VMs by lifecycle state (deleted ones left out).", labels=["state"]
    )
    counts = dict(
        VirtualMachine.objects.unscoped()
        .exclude(state=VMState.DELETED)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    for state in VMState.values:
        if state != VMState.DELETED:
            family.add_metric([state], counts.get(state, 0))
    yield family


def operations_in_flight() -> Counter[tuple[str, str]]:
    """(kind, step) -> active operations whose next step that is ("" when none is left)."""
    current = (
        OperationStep.objects.filter(operation=OuterRef("pk"))
        .exclude(status=StepStatus.DONE)
        .order_by("position")
        .values("name")[:1]
    )
    rows = (
        Operation.objects.unscoped()
        .filter(status__in=ACTIVE)
        .order_by()
        .annotate(step=Subquery(current))
        .values_list("kind", "step")
        .annotate(n=Count("id"))
    )
    return Counter({(kind, step or ""): n for kind, step, n in rows})


def operations_source() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "nuage_operations_in_flight",
        "Pending or running operations, by kind and the step they are at.",
        labels=["kind", "step"],
    )
    for (kind, step), n in sorted(operations_in_flight().items()):
        family.add_metric([kind, step], n)
    yield family


def host_counts() -> dict[str, int]:
    rows = (
        Host.objects.order_by()
        .annotate(not_down=ExpressionWrapper(Q(down_since__isnull=True), BooleanField()))
        .values_list("enabled", "maintenance", "reachable", "not_down")
        .annotate(n=Count("id"))
    )
    counts: Counter[str] = Counter(dict.fromkeys(HostStatus.values, 0))
    for enabled, maintenance, reachable, not_down, n in rows:
        status = host_status(
            enabled=enabled,
            maintenance=maintenance,
            reachable=reachable,
            # Only whether it is set matters to the rule.
            down_since=None if not_down else _SET,
        )
        counts[status] += n
    return dict(counts)


# Stands for "some date" where host_status only asks whether down_since is set.
_SET: Any = object()


def hosts_source() -> Iterator[Metric]:
    family = GaugeMetricFamily("nuage_hosts", "Hosts by status.", labels=["status"])
    for status, n in host_counts().items():
        family.add_metric([status], n)
    yield family


def hosts_summary() -> dict[str, Any]:
    counts = host_counts()
    return {"total": sum(counts.values()), **counts}
