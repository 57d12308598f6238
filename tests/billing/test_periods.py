"""Months and days are cut at local midnight in the tenant's zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing.periods import day_bounds, month_bounds, month_of

PARIS = ZoneInfo("Europe/Paris")


def test_month_in_paris_starts_at_local_midnight() -> None:
    start, end = month_bounds(PARIS, 2026, 3)
    assert start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # winter time, UTC+1
    assert end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # summer time since 29 March, UTC+2


def test_december_rolls_into_next_year() -> None:
    assert month_bounds(ZoneInfo("UTC"), 2026, 12) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_month_of_an_instant_depends_on_the_zone() -> None:
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert month_of(ZoneInfo("UTC"), instant) == (2026, 10)
    assert month_of(PARIS, instant) == (2026, 11)


def test_dst_day_lasts_23_hours() -> None:
    start, end = day_bounds(PARIS, date(2026, 3, 29))
    assert (end - start).total_seconds() == 23 * 3600


def test_bad_month_refused() -> None:
    with pytest.raises(ValueError, match="1 to 12"):
        month_bounds(PARIS, 2026, 13)
