"""Calendar periods in a tenant's time zone, as UTC instants: [start, end)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

# Years a bill can be about: a wider range is nonsense, and the year 9999's December ends past
# what a datetime can hold.
MIN_YEAR, MAX_YEAR = 2000, 2999
# The longest usage report, in the UI and the API.
MAX_PERIOD_DAYS = 366


def month_bounds(zone: ZoneInfo, year: int, month: int) -> tuple[datetime, datetime]:
    """Midnight on the 1st of the month to midnight on the 1st of the next, in `zone`, as UTC."""
    if not 1 <= month <= 12:
        raise ValueError("A month is 1 to 12.")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"A year is {MIN_YEAR} to {MAX_YEAR}.")
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_of(zone: ZoneInfo, at: datetime) -> tuple[int, int]:
    """The (year, month) an instant falls in, seen from `zone`."""
    local = at.astimezone(zone)
    return local.year, local.month


def day_bounds(zone: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """Local midnight to local midnight (23 or 25 hours across a DST change), as UTC."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
