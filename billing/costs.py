"""Month-to-date cost, the month's forecast and the sums the cost pages show; no database.

The forecast rule (run rate): the month's cost so far, plus what everything as it is now
(running VMs, stopped VMs' disks, snapshots, volumes) costs from now to the month's end at the
prices in effect then, both in the tenant's zone. It is what the month costs if nothing
changes: a VM started an hour ago counts at its full hourly price for the rest of the month
(the former average-rate rule, cost so far × month ÷ elapsed, forecast 2.75 EUR for VMs that
cost tens of EUR an hour when they started late in the month), so it agrees with the flavor's
estimate per hour. Each line is rounded once, as in every other figure. Alerts on the forecast
still wait for FORECAST_MIN_ELAPSED, so that a month's first hours do not announce anything
on their own.
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
from billing.rating.python import UsageLine, total

K = TypeVar("K", bound=Hashable)

FORECAST_MIN_ELAPSED = timedelta(days=1)
THRESHOLDS = (80, 100)  # percent of the budget that are announced


def forecast(actual: Decimal, rest: Iterable[UsageLine]) -> Decimal:
    """The month's cost if everything stays as it is now: the cost so far plus the rest of
    the month's lines at the current state."""
    return actual + total(rest)


def run_rate(rest: Iterable[UsageLine], *, now: datetime) -> Decimal:
    """What everything as it is now costs per hour (to 0.0001, as the flavor estimate)."""
    hourly = sum(
        (
            Fraction(line.unit_price) * Fraction(line.quantity)
            for line in rest
            if line.unit_price is not None and line.start == now
        ),
        Fraction(0),
    )
    return Decimal(round(hourly * 10_000)).scaleb(-4)


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
    # The rest of the month [now, end) as if nothing changed from now on.
    rest: list[UsageLine] = field(default_factory=list)

    @property
    def month(self) -> date:
        return self.start.astimezone(self.zone).date()

    @property
    def total(self) -> Decimal:
        return total(self.lines)

    @property
    def forecast(self) -> Decimal:
        return forecast(self.total, self.rest)

    @property
    def run_rate(self) -> Decimal:
        """The cost per hour of everything as it is now."""
        return run_rate(self.rest, now=self.now)

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
