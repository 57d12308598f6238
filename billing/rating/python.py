"""Rating, the reference: usage and cost as a pure function of ledger events, price lists and a
period.

Nothing here reads the database or the clock, so the same inputs always give the same lines.
Every other way of valuing the ledger (billing/rating/sql.py) is held equal to this one by tests.

The rule for money: every quantity is integrated exactly (microseconds, as fractions), and
each line's amount is rounded once, to 0.01 with ROUND_HALF_EVEN (banker's rounding). Totals
are sums of rounded lines, so a total always equals the sum of the lines it shows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from billing.choices import Resource, UsageKind

MICROS_PER_HOUR = 3_600_000_000
HOURS_PER_MONTH = 730  # the usual cloud convention: 8,760 h / 12


@dataclass(frozen=True)
class LedgerEvent:
    """What the computation needs of a usage event (a UsageEvent row, or a test's literal)."""

    key: str
    vm_id: int
    tenant_id: int
    environment_id: int
    kind: str
    at: datetime
    vcpus: int
    ram_mib: int
    disk_gib: int
    flavor_id: int
    snapshot_ref: str = ""
    snapshot_gib: int = 0
    seq: int = 0  # insertion order, to order events of one instant


@dataclass(frozen=True)
class Prices:
    """One price list with its resolved period [effective_from, effective_to)."""

    id: int | None
    currency: str
    effective_from: datetime
    effective_to: datetime | None
    vcpu_hour: Decimal
    ram_gib_hour: Decimal
    disk_gib_hour: Decimal
    snapshot_gib_hour: Decimal = Decimal("0")
    flavor_hour: Mapping[int, Decimal] = field(default_factory=dict)

    def unit_price(self, resource: str, flavor_id: int | None) -> Decimal | None:
        if resource == Resource.FLAVOR:
            return self.flavor_hour.get(flavor_id) if flavor_id is not None else None
        by_resource: dict[str, Decimal] = {
            Resource.CPU: self.vcpu_hour,
            Resource.RAM: self.ram_gib_hour,
            Resource.DISK: self.disk_gib_hour,
            Resource.SNAPSHOT: self.snapshot_gib_hour,
            Resource.VOLUME: self.disk_gib_hour,  # data volumes cost what root disks cost
        }
        return by_resource[resource]


@dataclass(frozen=True)
class VMNames:
    """What a report shows of a VM beside its ids: its name, and those of the environment and
    tenant of its first event."""

    vm: str
    environment: str
    tenant: str


@dataclass(frozen=True)
class UsageLine:
    """The use of one resource of one VM at one quantity under one price list, in a period."""

    vm_id: int
    tenant_id: int
    environment_id: int
    resource: str
    quantity: Decimal  # vCPUs, GiB, or 1 for a flavor
    flavor_id: int | None
    price_list_id: int | None  # None: no price list covered this time (usage, no charge)
    unit_price: Decimal | None  # per unit and hour
    seconds: Decimal
    start: datetime  # first and last instants the line covers
    end: datetime
    amount: Decimal
    # A data volume's line (resource `volume`, billing/rating/volumes.py): its id; vm_id is 0.
    volume_id: int | None = None


def round_money(value: Fraction) -> Decimal:
    """The one rounding: to 0.01, ties to even (Fraction's round() is exact half-even)."""
    return Decimal(round(value * 100)).scaleb(-2)


def _round_cents(numerator: int, denominator: int) -> Decimal:
    """round_money(Fraction(numerator, denominator)) for a positive denominator, in integers."""
    cents, rest = divmod(numerator * 100, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and cents % 2):
        cents += 1
    return Decimal(cents).scaleb(-2)


def _amount(unit: Decimal, quantity: Fraction, micros: int) -> Decimal:
    """unit × quantity × hours, rounded once to 0.01 half to even: `round_money` of the exact
    product, in integers (Fraction objects cost most of a daily split's or a draft's time)."""
    un, ud = unit.as_integer_ratio()
    return _round_cents(
        un * quantity.numerator * micros, ud * quantity.denominator * MICROS_PER_HOUR
    )


def _fraction_to_decimal(value: Fraction) -> Decimal:
    # Every quantity here has a denominator of 2^a·5^b (MiB/1024, microseconds), so it is exact.
    return Decimal(value.numerator) / Decimal(value.denominator)


def resolve_periods(price_lists: Iterable[Prices]) -> list[Prices]:
    """Sort by start and give each list without an explicit end the start of the next one."""
    ordered = sorted(price_lists, key=lambda p: p.effective_from)
    resolved: list[Prices] = []
    for i, p in enumerate(ordered):
        next_from = ordered[i + 1].effective_from if i + 1 < len(ordered) else None
        end = p.effective_to
        if next_from is not None and (end is None or end > next_from):
            end = next_from
        resolved.append(
            Prices(
                id=p.id,
                currency=p.currency,
                effective_from=p.effective_from,
                effective_to=end,
                vcpu_hour=p.vcpu_hour,
                ram_gib_hour=p.ram_gib_hour,
                disk_gib_hour=p.disk_gib_hour,
                snapshot_gib_hour=p.snapshot_gib_hour,
                flavor_hour=p.flavor_hour,
            )
        )
    return resolved


@dataclass(frozen=True)
class _Piece:
    resource: str
    quantity: Fraction
    flavor_id: int | None
    start: datetime
    end: datetime


def _vm_pieces(events: Sequence[LedgerEvent], until: datetime) -> list[_Piece]:
    """Replay one VM's events in order; each stretch between two events is a piece per resource.

    CPU, RAM and the flavor charge while running, disk while the VM exists, snapshots while they
    exist. A state still open after the last event lasts until `until`.
    """
    exists = running = False
    vcpus = ram_mib = disk_gib = 0
    flavor_id: int | None = None
    snapshots: dict[str, int] = {}
    pieces: list[_Piece] = []
    previous: datetime | None = None

    def close(upto: datetime) -> None:
        if previous is None or upto <= previous:
            return
        if running:
            pieces.append(_Piece(Resource.CPU, Fraction(vcpus), flavor_id, previous, upto))
            pieces.append(_Piece(Resource.RAM, Fraction(ram_mib, 1024), flavor_id, previous, upto))
            pieces.append(_Piece(Resource.FLAVOR, Fraction(1), flavor_id, previous, upto))
        if exists:
            pieces.append(_Piece(Resource.DISK, Fraction(disk_gib), flavor_id, previous, upto))
        if snapshots:
            size = Fraction(sum(snapshots.values()))
            pieces.append(_Piece(Resource.SNAPSHOT, size, flavor_id, previous, upto))

    for event in events:
        close(event.at)
        previous = event.at if previous is None else max(previous, event.at)
        kind = event.kind
        if kind in (UsageKind.CREATED, UsageKind.STARTED, UsageKind.RESIZED):
            vcpus, ram_mib, disk_gib = event.vcpus, event.ram_mib, event.disk_gib
            flavor_id = event.flavor_id
            exists = exists or kind != UsageKind.RESIZED
            running = running or kind == UsageKind.STARTED
        elif kind == UsageKind.STOPPED:
            running = False
        elif kind == UsageKind.DELETED:
            exists = running = False
            snapshots.clear()
        elif kind == UsageKind.SNAPSHOT_CREATED:
            snapshots[event.snapshot_ref] = event.snapshot_gib
        elif kind == UsageKind.SNAPSHOT_DELETED:
            snapshots.pop(event.snapshot_ref, None)
    close(until)
    return pieces


@dataclass
class _Slot:
    """One line being summed: (vm, resource, quantity, flavor, price list)."""

    micros: int
    first: datetime
    last: datetime


_SlotKey = tuple[int, str, Fraction, int | None, int | None]  # vm, resource, qty, flavor, prices


def usage_lines(
    events: Iterable[LedgerEvent],
    price_lists: Iterable[Prices],
    *,
    start: datetime,
    end: datetime,
) -> list[UsageLine]:
    """Usage lines for [start, end): per VM, resource, quantity and price list.

    Events must include each VM's history before `start` (its state at `start` depends on it).
    An event replayed (same key) counts once. Pieces are cut exactly at the period's bounds and
    at every price change; durations are summed in microseconds and valued as exact fractions.
    """
    return usage_lines_split(events, price_lists, bounds=[start, end])[0]


def usage_lines_split(
    events: Iterable[LedgerEvent],
    price_lists: Iterable[Prices],
    *,
    bounds: Sequence[datetime],
) -> list[list[UsageLine]]:
    """Usage lines for each period [bounds[i], bounds[i + 1]), from one replay of the ledger.

    Each period's lines are exactly what `usage_lines` gives for that period alone (pieces are
    cut at every bound, and each period's lines are rounded on their own): a daily chart costs
    one pass over the events, not one per day. The sum of the periods' rounded amounts may
    differ from the whole span's by a few cents, as each line is rounded once.
    """
    if len(bounds) < 2:
        raise ValueError("Give at least a start and an end.")
    if any(b.tzinfo is None for b in bounds):
        raise ValueError("The period's bounds must be timezone-aware.")
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError("The period must end after it starts.")
    start, end = bounds[0], bounds[-1]
    unique: dict[str, LedgerEvent] = {}
    for event in events:
        unique.setdefault(event.key, event)
    by_vm: dict[int, list[LedgerEvent]] = {}
    for event in unique.values():
        if event.at < end:
            by_vm.setdefault(event.vm_id, []).append(event)
    periods = resolve_periods(price_lists)

    totals: list[dict[_SlotKey, _Slot]] = [{} for _ in bounds[1:]]
    meta: dict[int, tuple[int, int]] = {}
    prices_by_id: dict[int | None, Prices | None] = {p.id: p for p in periods}
    prices_by_id[None] = None
    for vm_id, vm_events in by_vm.items():
        vm_events.sort(key=lambda e: (e.at, e.seq))
        meta[vm_id] = (vm_events[0].tenant_id, vm_events[0].environment_id)
        for piece in _vm_pieces(vm_events, end):
            a, b = max(piece.start, start), min(piece.end, end)
            if a >= b:
                continue
            i = bisect_right(bounds, a) - 1
            while i < len(totals) and bounds[i] < b:
                ia, ib = max(a, bounds[i]), min(b, bounds[i + 1])
                for price_id, pa, pb in _split_by_prices(ia, ib, periods):
                    if piece.resource == Resource.FLAVOR:
                        prices = prices_by_id[price_id]
                        if (
                            prices is None
                            or prices.unit_price(Resource.FLAVOR, piece.flavor_id) is None
                        ):
                            continue  # a flat flavor price is optional
                    key = (vm_id, piece.resource, piece.quantity, piece.flavor_id, price_id)
                    micros = (pb - pa) // timedelta(microseconds=1)
                    slot = totals[i].get(key)
                    if slot is None:
                        totals[i][key] = _Slot(micros, pa, pb)
                    else:
                        slot.micros += micros
                        slot.first, slot.last = min(slot.first, pa), max(slot.last, pb)
                i += 1
    return [_lines_of(period, meta, prices_by_id) for period in totals]


_RESOURCE_ORDER = {resource: i for i, resource in enumerate(Resource.values)}


def _lines_of(
    totals: Mapping[_SlotKey, _Slot],
    meta: Mapping[int, tuple[int, int]],
    prices_by_id: Mapping[int | None, Prices | None],
) -> list[UsageLine]:
    lines: list[UsageLine] = []
    # Looked up by plain tuples: hashing a Fraction costs more than the rest of a line.
    quantities: dict[tuple[int, int], Decimal] = {}
    units: dict[tuple[int | None, str, int | None], Decimal | None] = {}
    for (vm_id, resource, quantity, flavor_id, price_id), slot in totals.items():
        micros = slot.micros
        unit_key = (price_id, resource, flavor_id)
        if unit_key in units:
            unit = units[unit_key]
        else:
            prices = prices_by_id[price_id]
            unit = prices.unit_price(resource, flavor_id) if prices is not None else None
            units[unit_key] = unit
        ratio = (quantity.numerator, quantity.denominator)
        decimal_quantity = quantities.get(ratio)
        if decimal_quantity is None:
            decimal_quantity = quantities[ratio] = _fraction_to_decimal(quantity)
        tenant_id, environment_id = meta[vm_id]
        lines.append(
            UsageLine(
                vm_id=vm_id,
                tenant_id=tenant_id,
                environment_id=environment_id,
                resource=resource,
                quantity=decimal_quantity,
                flavor_id=flavor_id if resource == Resource.FLAVOR else None,
                price_list_id=price_id,
                unit_price=unit,
                seconds=Decimal(micros) / 1_000_000,  # exact: 28 digits are plenty
                start=slot.first,
                end=slot.last,
                amount=_amount(unit, quantity, micros) if unit is not None else Decimal("0.00"),
            )
        )
    lines.sort(key=lambda ln: (ln.tenant_id, ln.vm_id, _RESOURCE_ORDER[ln.resource], ln.start))
    return lines


def _split_by_prices(
    a: datetime, b: datetime, periods: Sequence[Prices]
) -> list[tuple[int | None, datetime, datetime]]:
    """Cut [a, b) at every price list boundary; stretches no list covers get None."""
    cuts = {a, b}
    for p in periods:
        for t in (p.effective_from, p.effective_to):
            if t is not None and a < t < b:
                cuts.add(t)
    bounds = sorted(cuts)
    out: list[tuple[int | None, datetime, datetime]] = []
    for pa, pb in zip(bounds, bounds[1:], strict=False):
        covering = next(
            (
                p
                for p in periods
                if p.effective_from <= pa and (p.effective_to is None or pb <= p.effective_to)
            ),
            None,
        )
        out.append((covering.id if covering is not None else None, pa, pb))
    return out


def total(lines: Iterable[UsageLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.00"))


@dataclass(frozen=True)
class Estimate:
    currency: str
    per_hour: Decimal  # to 0.0001, half-even, from the exact hourly price
    per_month: Decimal  # 730 h, to 0.01, half-even, from the exact hourly price


def flavor_estimate(
    prices: Prices, *, flavor_id: int, vcpus: int, ram_mib: int, disk_gib: int
) -> Estimate:
    """What a VM of this flavor costs per hour running, and per 730-hour month."""
    hourly = (
        Fraction(prices.vcpu_hour) * vcpus
        + Fraction(prices.ram_gib_hour) * Fraction(ram_mib, 1024)
        + Fraction(prices.disk_gib_hour) * disk_gib
        + Fraction(prices.flavor_hour.get(flavor_id, Decimal("0")))
    )
    return Estimate(
        currency=prices.currency,
        per_hour=Decimal(round(hourly * 10_000)).scaleb(-4),
        per_month=round_money(hourly * HOURS_PER_MONTH),
    )
