"""Rating of data volumes: their ledger (created, resized, deleted) valued per GiB-hour at the
disk price, exactly to the microsecond, with the money rule of the VMs' reference
(billing/rating/python.py): each line's amount rounded once, to 0.01 half to even.

A volume's lines are `UsageLine`s of resource `volume` carrying its `volume_id` (their `vm_id`
is 0: a volume is charged whether or not a VM holds it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from billing.choices import Resource, UsageKind
from billing.rating.python import (
    Prices,
    UsageLine,
    _amount,
    _fraction_to_decimal,
    _split_by_prices,
    resolve_periods,
)


@dataclass(frozen=True)
class VolumeLedgerEvent:
    key: str
    volume_id: int
    tenant_id: int
    environment_id: int
    kind: str
    at: datetime
    size_gib: int
    seq: int = 0


def _pieces(
    events: Sequence[VolumeLedgerEvent], until: datetime
) -> list[tuple[int, datetime, datetime]]:
    """(size, from, to) stretches in which the volume existed."""
    pieces: list[tuple[int, datetime, datetime]] = []
    size: int | None = None
    previous: datetime | None = None
    for event in events:
        if size is not None and previous is not None and event.at > previous:
            pieces.append((size, previous, event.at))
        previous = event.at if previous is None else max(previous, event.at)
        if event.kind in (UsageKind.CREATED, UsageKind.RESIZED):
            size = event.size_gib
        elif event.kind == UsageKind.DELETED:
            size = None
    if size is not None and previous is not None and until > previous:
        pieces.append((size, previous, until))
    return pieces


def volume_usage_lines(
    events: Iterable[VolumeLedgerEvent],
    price_lists: Iterable[Prices],
    *,
    start: datetime,
    end: datetime,
) -> list[UsageLine]:
    """Lines for [start, end): per volume, size and price list. Events must include each
    volume's history before `start`; an event recorded twice (same key) counts once."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("The period's bounds must be timezone-aware.")
    unique: dict[str, VolumeLedgerEvent] = {}
    for event in events:
        if event.at < end:
            unique.setdefault(event.key, event)
    by_volume: dict[int, list[VolumeLedgerEvent]] = {}
    for event in unique.values():
        by_volume.setdefault(event.volume_id, []).append(event)
    periods = resolve_periods(price_lists)
    prices_by_id = {p.id: p for p in periods}
    lines: list[UsageLine] = []
    for volume_id, volume_events in by_volume.items():
        volume_events.sort(key=lambda e: (e.at, e.seq))
        first = volume_events[0]
        slots: dict[tuple[int, int | None], list] = {}  # (size, price list) -> [micros, a, b]
        for size, a, b in _pieces(volume_events, end):
            a, b = max(a, start), min(b, end)
            if a >= b:
                continue
            for price_id, pa, pb in _split_by_prices(a, b, periods):
                micros = (pb - pa) // timedelta(microseconds=1)
                slot = slots.get((size, price_id))
                if slot is None:
                    slots[(size, price_id)] = [micros, pa, pb]
                else:
                    slot[0] += micros
                    slot[1], slot[2] = min(slot[1], pa), max(slot[2], pb)
        for (size, price_id), (micros, first_at, last_at) in slots.items():
            prices = prices_by_id.get(price_id) if price_id is not None else None
            unit = prices.disk_gib_hour if prices is not None else None
            quantity = Fraction(size)
            lines.append(
                UsageLine(
                    vm_id=0,
                    tenant_id=first.tenant_id,
                    environment_id=first.environment_id,
                    resource=Resource.VOLUME,
                    quantity=_fraction_to_decimal(quantity),
                    flavor_id=None,
                    price_list_id=price_id,
                    unit_price=unit,
                    seconds=Decimal(micros) / 1_000_000,
                    start=first_at,
                    end=last_at,
                    amount=_amount(unit, quantity, micros) if unit is not None else Decimal("0.00"),
                    volume_id=volume_id,
                )
            )
    lines.sort(key=lambda ln: (ln.tenant_id, ln.volume_id or 0, ln.start))
    return lines
