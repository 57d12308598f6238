"""Month-to-date cost, the month's forecast and the sums the cost pages show; no database.

The forecast rule: the month's cost so far, extrapolated at the average rate so far, that is
`actual × (length of the month ÷ time elapsed since its start)`, both measured in the tenant's
zone (28 to 31 days, 23 or 25 hours on a DST day), computed exactly and rounded once to 0.01.
It assumes the rest of the month costs what the month so far has cost per hour; a VM started
yesterday moves it less than a current-rate forecast would, a one-off early spike more. Alerts
on the forecast wait for FORECAST_MIN_ELAPSED, as a first hour multiplied by 700 says little.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar
from zoneinfo import ZoneInfo

from billing.periods import day_bounds, month_bounds, month_of
from billing.rating.python import UsageLine, round_money, total

K = TypeVar("K", bound=Hashable)

FORECAST_MIN_ELAPSED = timedelta(days=1)
THRESHOLDS = (80, 100)  # percent of the budget that are announced


def forecast(actual: Decimal, *, start: datetime, end: datetime, now: datetime) -> Decimal:
    """The month's cost if the rest of it costs what it has cost so far, per hour."""
    if now >= end or now <= start:
        return actual
    one = timedelta(microseconds=1)
    return round_money(Fraction(actual) * Fraction((end - start) // one, (now - start) // one))


def sum_by(lines: Iterable[UsageLine], key: Callable[[UsageLine], K]) -> dict[K, Decimal]:
    """Amounts summed per key, largest first (sums of rounded lines, so they add up)."""
    sums: dict[K, Decimal] = {}
    for line in lines:
        k = key(line)
        sums[k] = sums.get(k, Decimal("0.00")) + line.amount
    return dict(sorted(sums.items(), key=lambda kv: kv[1], reverse=True))


def local_days(zone: ZoneInfo, start: datetime, now: datetime) -> list[tuple[date, datetime]]:
    """The local days from `start` (a local midnight) that have begun before `now`."""
    days: list[tuple[date, datetime]] = []
    day = start.astimezone(zone).date()
    while True:
        begin, _end = day_bounds(zone, day)
        if begin >= now:
            return days
        days.append((day, begin))
        day += timedelta(days=1)


@dataclass(frozen=True)
class MonthCost:
    """One tenant's (or VM's) calendar month in its zone, up to `now`."""

    zone: ZoneInfo
    start: datetime
    end: datetime
    now: datetime
    lines: list[UsageLine]
    days: list[tuple[date, list[UsageLine]]] = field(default_factory=list)

    @property
    def month(self) -> date:
        return self.start.astimezone(self.zone).date()

    @property
    def total(self) -> Decimal:
        return total(self.lines)

    @property
    def forecast(self) -> Decimal:
        return forecast(self.total, start=self.start, end=self.end, now=self.now)

    @property
    def forecast_ready(self) -> bool:
        """Whether enough of the month has passed for the forecast to raise an alert."""
        return self.now - self.start >= FORECAST_MIN_ELAPSED


def month_period(zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """The bounds of the local month `now` falls in, as UTC instants."""
    return month_bounds(zone, *month_of(zone, now))


def crossed(amount: Decimal, cost: MonthCost) -> list[tuple[int, str]]:
    """The thresholds this month's cost has reached, each with what reached it first.

    The actual cost is preferred as the reason; the forecast counts once it is ready.
    """
    out: list[tuple[int, str]] = []
    for percent in THRESHOLDS:
        limit = amount * percent / 100
        if cost.total >= limit:
            out.append((percent, "actual"))
        elif cost.forecast_ready and cost.forecast >= limit:
            out.append((percent, "forecast"))
    return out
