"""Reads of price lists, usage events and usage reports, scoped to the requesting user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import CharField, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from billing.choices import UsageKind
from billing.costs import MonthCost, local_days, month_period
from billing.models import (
    Budget,
    BudgetAlert,
    FlavorPrice,
    PriceList,
    UsageEvent,
    VolumeUsageEvent,
)
from billing.rating.python import (
    LedgerEvent,
    Prices,
    UsageLine,
    VMNames,
    usage_lines,
    usage_lines_split,
)
from billing.rating.volumes import VolumeLedgerEvent, volume_usage_lines
from compute.models import VirtualMachine
from portal.jsonrows import JSONRows, as_datetime, instances, model_rows
from portal.models import Environment, Tenant, User
from portal.permissions import Perm, platform_perms


def billing_currency() -> str:
    return str(settings.NUAGE.get("CURRENCY", "EUR"))


def _with_next_start(qs: QuerySet[PriceList]) -> QuerySet[PriceList]:
    """Annotate `next_from`: where the next list of the same currency starts (the derived end)."""
    following = PriceList.objects.filter(
        currency=OuterRef("currency"), effective_from__gt=OuterRef("effective_from")
    ).order_by("effective_from")
    return qs.annotate(next_from=Subquery(following.values("effective_from")[:1])).prefetch_related(
        Prefetch("flavor_prices", queryset=FlavorPrice.objects.select_related("flavor"))
    )


def price_list_current_qs(*, at: datetime | None = None) -> QuerySet[PriceList]:
    """The one list in effect at `at` (now by default) in the billing currency, as a queryset."""
    at = at or timezone.now()
    latest = (
        PriceList.objects.filter(currency=billing_currency(), effective_from__lte=at)
        .order_by("-effective_from")
        .values("pk")[:1]
    )
    return PriceList.objects.filter(pk__in=Subquery(latest)).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=at)
    )


def price_list_list(*, fetched_by: User) -> QuerySet[PriceList]:
    """Those who keep prices see every list; everyone else sees the one in effect now."""
    if Perm.PRICE_MANAGE in platform_perms(fetched_by):
        qs = PriceList.objects.all()
    elif fetched_by.is_authenticated:
        qs = price_list_current_qs()
    else:
        qs = PriceList.objects.none()
    return _with_next_start(qs.select_related("created_by"))


def price_list_current(*, fetched_by: User, at: datetime | None = None) -> PriceList | None:
    if not fetched_by.is_authenticated:
        return None
    return _with_next_start(price_list_current_qs(at=at)).first()


_PRICE_COLUMNS = ("vcpu_hour", "ram_gib_hour", "disk_gib_hour", "snapshot_gib_hour")


def _next_from() -> Subquery:
    following = PriceList.objects.filter(
        currency=OuterRef("currency"), effective_from__gt=OuterRef("effective_from")
    ).order_by("effective_from")
    return Subquery(following.values("effective_from")[:1])


def _as_text(column: str) -> Cast:
    # Decimals as text through JSON: exact, where a JSON number would go through a float.
    return Cast(column, CharField())


def _price_rows(lists: QuerySet[PriceList]) -> JSONRows:
    """The lists as `Prices` needs them (their derived end, their flavor prices), as one JSON
    column: read with the rest of a page's query, not a query and a prefetch of their own."""
    columns = _price_columns()
    return JSONRows(
        lists.values(**{f"jr{i}": expr for i, expr in enumerate(columns.values())}),
        keys=list(columns),
    )


def _price_columns() -> dict[str, Any]:
    flavor_hours = FlavorPrice.objects.filter(price_list=OuterRef("pk")).order_by("flavor_id")
    columns: dict[str, Any] = {
        "id": F("pk"),
        "currency": F("currency"),
        "effective_from": F("effective_from"),
        "effective_to": F("effective_to"),
        **{c: _as_text(c) for c in _PRICE_COLUMNS},
        "next_from": _next_from(),
        "flavor_hour": JSONRows(
            flavor_hours.values(jr0=F("flavor_id"), jr1=_as_text("per_hour")),
            keys=["flavor_id", "per_hour"],
        ),
    }
    return columns


def _decimal(text: str | None) -> Decimal:
    places = PriceList._meta.get_field("vcpu_hour").decimal_places
    return Decimal(text or "0").quantize(Decimal(1).scaleb(-(places or 0)))


def _prices_from_rows(rows: list[dict[str, Any]]) -> list[Prices]:
    out = []
    for row in rows:
        end = as_datetime(row.get("effective_to"))
        next_from = as_datetime(row.get("next_from"))
        if next_from is not None and (end is None or next_from < end):
            end = next_from
        start = as_datetime(row.get("effective_from"))
        assert start is not None
        out.append(
            Prices(
                id=row.get("id"),
                currency=str(row.get("currency")),
                effective_from=start,
                effective_to=end,
                vcpu_hour=_decimal(row.get("vcpu_hour")),
                ram_gib_hour=_decimal(row.get("ram_gib_hour")),
                disk_gib_hour=_decimal(row.get("disk_gib_hour")),
                snapshot_gib_hour=_decimal(row.get("snapshot_gib_hour")),
                flavor_hour={
                    f["flavor_id"]: _decimal(f.get("per_hour"))
                    for f in row.get("flavor_hour") or []
                },
            )
        )
    return out


def prices_current(*, fetched_by: User, at: datetime | None = None) -> Prices | None:
    """`prices_of(price_list_current(...))` in one query (its flavor prices a JSON column, not
    a prefetch): what a page's estimates need."""
    if not fetched_by.is_authenticated:
        return None
    columns = _price_columns()
    row = price_list_current_qs(at=at).values_list(*columns.values()).first()
    return _prices_from_rows([dict(zip(columns, row, strict=True))])[0] if row else None


def prices_of(price_list: PriceList) -> Prices:
    """The computation's view of a price list (its flavor prices prefetched or loaded)."""
    next_from = getattr(price_list, "next_from", None)
    end = price_list.effective_to
    if next_from is not None and (end is None or next_from < end):
        end = next_from
    return Prices(
        id=price_list.pk,
        currency=price_list.currency,
        effective_from=price_list.effective_from,
        effective_to=end,
        vcpu_hour=price_list.vcpu_hour,
        ram_gib_hour=price_list.ram_gib_hour,
        disk_gib_hour=price_list.disk_gib_hour,
        snapshot_gib_hour=price_list.snapshot_gib_hour,
        flavor_hour={fp.flavor_id: fp.per_hour for fp in price_list.flavor_prices.all()},
    )


def _period_lists(*, end: datetime) -> QuerySet[PriceList]:
    return PriceList.objects.filter(currency=billing_currency(), effective_from__lt=end)


def _in_period(prices: list[Prices], start: datetime) -> list[Prices]:
    return [p for p in prices if p.effective_to is None or p.effective_to > start]


def prices_for_period(*, start: datetime, end: datetime) -> list[Prices]:
    """Every list of the billing currency that may cover part of [start, end), in one query."""
    columns = _price_columns()
    rows = _period_lists(end=end).values_list(*columns.values())
    return _in_period(_prices_from_rows([dict(zip(columns, r, strict=True)) for r in rows]), start)


def usage_event_list(
    *, fetched_by: User, tenant: Tenant | None = None, before: datetime | None = None
) -> QuerySet[UsageEvent]:
    qs = UsageEvent.objects.visible_to(fetched_by)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if before is not None:
        qs = qs.filter(at__lt=before)
    return qs.order_by("at", "id")


def _ledger_event(row: UsageEvent) -> LedgerEvent:
    return LedgerEvent(
        key=row.key,
        vm_id=row.vm_id,
        tenant_id=row.tenant_id,
        environment_id=row.environment_id,
        kind=row.kind,
        at=row.at,
        vcpus=row.vcpus,
        ram_mib=row.ram_mib,
        disk_gib=row.disk_gib,
        flavor_id=row.flavor_id,
        snapshot_ref=row.snapshot_ref,
        snapshot_gib=row.snapshot_gib,
        seq=row.pk,
    )


def _ledger_rows(rows: QuerySet[UsageEvent], start: datetime) -> QuerySet[UsageEvent]:
    # VMs deleted before the period cannot contribute; their history need not be read.
    gone = (
        UsageEvent.objects.unscoped().filter(kind=UsageKind.DELETED, at__lt=start).values("vm_id")
    )
    return rows.exclude(vm_id__in=gone)


def _ledger(rows: QuerySet[UsageEvent], start: datetime) -> Iterator[LedgerEvent]:
    return (_ledger_event(row) for row in _ledger_rows(rows, start).iterator(chunk_size=2000))


def usage_report(
    *,
    fetched_by: User,
    start: datetime,
    end: datetime,
    tenant: Tenant | None = None,
    vm: VirtualMachine | None = None,
) -> list[UsageLine]:
    """Usage lines of [start, end) for the tenants the user sees (or the one, or the VM, named)."""
    events = usage_event_list(fetched_by=fetched_by, tenant=tenant, before=end)
    if vm is not None:
        events = events.filter(vm=vm)
    prices = prices_for_period(start=start, end=end)
    lines = usage_lines(_ledger(events, start), prices, start=start, end=end)
    if vm is None:
        volumes = _volume_events(VolumeUsageEvent.objects.visible_to(fetched_by), tenant)
        lines += volume_usage_lines(
            _volume_ledger(volumes, start=start, end=end), prices, start=start, end=end
        )
    return lines


def _json_columns(names: tuple[str, ...]) -> dict[str, Any]:
    return {f"jr{i}": F(name) for i, name in enumerate(names)}


def _ledger_value(row: dict[str, Any], column: str) -> Any:
    return as_datetime(row.get(column)) if column == "at" else row.get(column)


# More columns for the month's query (a page's other reads): from the month's ledger and
# volumes' ledger (None without volumes) and the month's first day.
MoreColumns = Callable[
    [QuerySet[UsageEvent], QuerySet[VolumeUsageEvent] | None, date], dict[str, Any]
]


def _month_cost(
    rows: QuerySet[UsageEvent],
    tenant: Tenant,
    now: datetime,
    by_day: bool,
    volume_rows: QuerySet[VolumeUsageEvent] | None = None,
    more: MoreColumns | None = None,
) -> tuple[MonthCost, dict[str, Any]]:
    """The month's cost, and the `more` columns read with it."""
    zone = tenant.zone
    start, end = month_period(zone, now)
    # One query for the month: its ledger, its volumes' ledger and its price lists (each line is
    # cut at their bounds), as JSON columns of the tenant's row; the computations are in memory.
    # Events up to now included: one at this very instant (a VM started now) sets the rest.
    ledger = _ledger_rows(rows.filter(at__lte=now), start)
    columns: dict[str, Any] = {
        "month_events": JSONRows(
            ledger.values(**_json_columns(_EVENT_COLUMNS)), keys=_EVENT_COLUMNS
        ),
        "month_prices": _price_rows(_period_lists(end=end)),
    }
    volume_ledger = None
    if volume_rows is not None:
        volume_ledger = _volume_rows(volume_rows.filter(at__lte=now), start=start, end=end)
        columns["month_volumes"] = JSONRows(
            volume_ledger.values(**_json_columns(_VOLUME_COLUMNS)), keys=_VOLUME_COLUMNS
        )
    if more is not None:
        columns.update(more(ledger, volume_ledger, start.astimezone(zone).date()))
    row: Any = Tenant.objects.unscoped().filter(pk=tenant.pk).values(**columns).first()
    found: dict[str, Any] = row or {}
    return _month_cost_of(found, zone, start, end, now, by_day), found


def _month_cost_of(
    found: dict[str, Any],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
    by_day: bool,
) -> MonthCost:
    events = [
        LedgerEvent(*[_ledger_value(r, c) for c in _EVENT_COLUMNS])
        for r in found.get("month_events") or []
    ]
    volume_events = [
        VolumeLedgerEvent(*[_ledger_value(r, c) for c in _VOLUME_COLUMNS])
        for r in found.get("month_volumes") or []
    ]
    prices = _in_period(_prices_from_rows(found.get("month_prices") or []), start)
    # The rest of the month at the current state, at the prices in effect then.
    rest = usage_lines(events, prices, start=now, end=end)
    rest += volume_usage_lines(volume_events, prices, start=now, end=end)
    if now <= start:  # the month's very first instant: nothing used yet
        return MonthCost(zone=zone, start=start, end=end, now=now, lines=[], rest=rest)
    lines = usage_lines(events, prices, start=start, end=now)
    lines += volume_usage_lines(volume_events, prices, start=start, end=now)
    days: list[tuple[date, list[UsageLine]]] = []
    if by_day:
        local = local_days(zone, start, now)
        bounds = [b for _day, b in local] + [now]
        split = usage_lines_split(events, prices, bounds=bounds)
        days = [(day, day_lines) for (day, _b), day_lines in zip(local, split, strict=True)]
        if volume_events:
            days = [
                (day, day_lines + volume_usage_lines(volume_events, prices, start=a, end=b))
                for (day, day_lines), a, b in zip(days, bounds[:-1], bounds[1:], strict=True)
            ]
    return MonthCost(zone=zone, start=start, end=end, now=now, lines=lines, days=days, rest=rest)


def month_cost(
    *,
    fetched_by: User,
    tenant: Tenant,
    now: datetime | None = None,
    vm: VirtualMachine | None = None,
    by_day: bool = False,
) -> MonthCost:
    """The tenant's (or one VM's) cost in the tenant's current month, optionally per day."""
    rows = usage_event_list(fetched_by=fetched_by, tenant=tenant)
    volume_rows = None
    if vm is not None:
        rows = rows.filter(vm=vm)
    else:
        volume_rows = _volume_events(VolumeUsageEvent.objects.visible_to(fetched_by), tenant)
    return _month_cost(rows, tenant, now or timezone.now(), by_day, volume_rows)[0]


@dataclass(frozen=True)
class CostsPage:
    """What the costs page shows of a tenant's month, read in one query."""

    cost: MonthCost
    budget: Budget | None
    alerts: list[BudgetAlert]
    vm_names: dict[int, str]
    environment_names: dict[int, str]


def costs_page(*, fetched_by: User, tenant: Tenant, now: datetime | None = None) -> CostsPage:
    """The tenant's month per day (`month_cost`), with its budget, the month's budget alerts
    and the names of the VMs and environments its lines name, in one query."""
    rows = usage_event_list(fetched_by=fetched_by, tenant=tenant)
    volume_rows = _volume_events(VolumeUsageEvent.objects.visible_to(fetched_by), tenant)

    def more(
        ledger: QuerySet[UsageEvent], volumes: QuerySet[VolumeUsageEvent] | None, month: date
    ) -> dict[str, Any]:
        named = Q(pk__in=ledger.order_by().values("environment_id"))
        if volumes is not None:
            named |= Q(pk__in=volumes.order_by().values("environment_id"))
        return {
            "page_budget": model_rows(Budget.objects.unscoped().filter(tenant=tenant)[:1]),
            "page_alerts": model_rows(
                budget_alert_list(fetched_by=fetched_by).filter(tenant=tenant, month=month)
            ),
            "page_vm_names": JSONRows(
                VirtualMachine.objects.unscoped()
                .filter(pk__in=ledger.order_by().values("vm_id"))
                .order_by()
                .values(jr0=F("pk"), jr1=F("name")),
                keys=["id", "name"],
            ),
            "page_environment_names": JSONRows(
                Environment.objects.unscoped()
                .filter(named)
                .order_by()
                .values(jr0=F("pk"), jr1=F("name")),
                keys=["id", "name"],
            ),
        }

    cost, found = _month_cost(rows, tenant, now or timezone.now(), True, volume_rows, more=more)
    budgets = instances(Budget, found.get("page_budget"))
    return CostsPage(
        cost=cost,
        budget=budgets[0] if budgets else None,
        alerts=instances(BudgetAlert, found.get("page_alerts")),
        vm_names={r["id"]: r["name"] for r in found.get("page_vm_names") or []},
        environment_names={r["id"]: r["name"] for r in found.get("page_environment_names") or []},
    )


def tenant_month_cost(*, tenant: Tenant, now: datetime | None = None) -> MonthCost:
    """Unscoped, for Nuage's own checks (budget alerts, the request hook), never for pages."""
    rows = UsageEvent.objects.unscoped().filter(tenant=tenant).order_by("at", "id")
    volume_rows = VolumeUsageEvent.objects.unscoped().filter(tenant=tenant)
    return _month_cost(rows, tenant, now or timezone.now(), False, volume_rows)[0]


def budget_list(*, fetched_by: User) -> QuerySet[Budget]:
    """The budgets of the tenants the user sees (members read their tenant's)."""
    return Budget.objects.visible_to(fetched_by).select_related("tenant", "updated_by")


def budget_alert_list(*, fetched_by: User) -> QuerySet[BudgetAlert]:
    return BudgetAlert.objects.visible_to(fetched_by)


# The columns of a ledger row, in LedgerEvent's field order (the last one is its `seq`).
_EVENT_COLUMNS = (
    "key",
    "vm_id",
    "tenant_id",
    "environment_id",
    "kind",
    "at",
    "vcpus",
    "ram_mib",
    "disk_gib",
    "flavor_id",
    "snapshot_ref",
    "snapshot_gib",
    "id",
)
_NAME_COLUMNS = ("vm__name", "environment__name", "tenant__slug")


def _ledger_in_period(
    events: QuerySet[UsageEvent], *, start: datetime, end: datetime
) -> QuerySet[UsageEvent]:
    # VMs deleted before the period cannot contribute; their history need not be read.
    gone = (
        UsageEvent.objects.unscoped().filter(kind=UsageKind.DELETED, at__lt=start).values("vm_id")
    )
    return events.filter(at__lt=end).exclude(vm_id__in=gone)


def lines_by_vm(
    events: QuerySet[UsageEvent], *, start: datetime, end: datetime, prices: list[Prices]
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    """One ordered scan of the ledger (a server-side cursor), one VM at a time.

    Each VM's charges depend only on its own events, so computing VM by VM gives exactly the
    lines `usage_lines` gives for all of them at once, in the same order (tenant, VM), while
    holding one VM's events in memory instead of the whole period's.
    """
    rows = (
        _ledger_in_period(events, start=start, end=end)
        .order_by("tenant_id", "vm_id", "at", "id")
        .values_list(*_EVENT_COLUMNS, *_NAME_COLUMNS)
        .iterator(chunk_size=5000)
    )
    width = len(_EVENT_COLUMNS)
    for _vm_id, group in groupby(rows, key=itemgetter(1)):
        batch = list(group)
        names = VMNames(*batch[0][width:])
        ledger = [LedgerEvent(*row[:width]) for row in batch]
        lines = usage_lines(ledger, prices, start=start, end=end)
        if lines:
            yield names, lines


def usage_report_rows(
    *, fetched_by: User, start: datetime, end: datetime, tenant: Tenant | None = None
) -> Iterator[tuple[VMNames, UsageLine]]:
    """The lines of `usage_report`, streamed with the names a report shows (for exports)."""
    events = UsageEvent.objects.visible_to(fetched_by)
    if tenant is not None:
        events = events.filter(tenant=tenant)
    prices = prices_for_period(start=start, end=end)
    for names, lines in lines_by_vm(events, start=start, end=end, prices=prices):
        for line in lines:
            yield names, line
    volumes = _volume_events(VolumeUsageEvent.objects.visible_to(fetched_by), tenant)
    for names, lines in lines_by_volume(volumes, start=start, end=end, prices=prices):
        for line in lines:
            yield names, line


# --- data volumes -----------------------------------------------------------------------------


def _volume_events(
    rows: QuerySet[VolumeUsageEvent], tenant: Tenant | None
) -> QuerySet[VolumeUsageEvent]:
    return rows if tenant is None else rows.filter(tenant=tenant)


_VOLUME_COLUMNS = (
    "key",
    "volume_id",
    "tenant_id",
    "environment_id",
    "kind",
    "at",
    "size_gib",
    "id",
)
_VOLUME_NAME_COLUMNS = ("volume_name", "environment__name", "tenant__slug")


def _volume_rows(
    rows: QuerySet[VolumeUsageEvent], *, start: datetime, end: datetime
) -> QuerySet[VolumeUsageEvent]:
    # Volumes deleted before the period cannot contribute; their history need not be read.
    gone = VolumeUsageEvent.objects.unscoped().filter(kind=UsageKind.DELETED, at__lt=start)
    return rows.filter(at__lt=end).exclude(volume_id__in=gone.values("volume_id"))


def _volume_ledger(
    rows: QuerySet[VolumeUsageEvent], *, start: datetime, end: datetime
) -> Iterator[VolumeLedgerEvent]:
    for row in _volume_rows(rows, start=start, end=end).values_list(*_VOLUME_COLUMNS):
        yield VolumeLedgerEvent(*row)


def lines_by_volume(
    rows: QuerySet[VolumeUsageEvent], *, start: datetime, end: datetime, prices: list[Prices]
) -> Iterator[tuple[VMNames, list[UsageLine]]]:
    """Per volume, in (tenant, volume) order: its lines, with the names a report shows (the
    volume's name where a VM's line shows the VM's)."""
    ordered = (
        _volume_rows(rows, start=start, end=end)
        .order_by("tenant_id", "volume_id", "at", "id")
        .values_list(*_VOLUME_COLUMNS, *_VOLUME_NAME_COLUMNS)
    )
    width = len(_VOLUME_COLUMNS)
    for _volume_id, group in groupby(ordered, key=itemgetter(1)):
        batch = list(group)
        names = VMNames(*batch[0][width:])
        events = [VolumeLedgerEvent(*row[:width]) for row in batch]
        lines = volume_usage_lines(events, prices, start=start, end=end)
        if lines:
            yield names, lines


def cost_centres(*, fetched_by: User) -> dict[int, str]:
    """Tenant id -> cost centre, for the tenants the user sees that have one."""
    return dict(
        Tenant.objects.visible_to(fetched_by)
        .exclude(cost_centre="")
        .values_list("pk", "cost_centre")
    )
