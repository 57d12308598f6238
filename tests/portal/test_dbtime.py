"""Timestamps read by the fast loader (portal/dbtime.py) are the ones Django's own gives."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-12-06 07:10:39.854361+00",
    "2026-12-06 07:10:39+00",
    "2026-12-06 07:10:39.8543+00",
    "2026-03-29 01:30:00.000001+02",
    "0099-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


def _read(values: list[str]) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("%s::timestamptz" for _ in values),  # noqa: S608 - placeholders
            values,
        )
        return list(cursor.fetchone())


def _read_with_djangos_loader(values: list[str]) -> list[object]:
    class DjangosLoader(BaseTzLoader):
        timezone = UTC

    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", DjangosLoader)
        cursor.execute(
            "SELECT " + ", ".join("%s::timestamptz" for _ in values),  # noqa: S608 - placeholders
            values,
        )
        return list(cursor.fetchone())


def test_the_connection_reads_timestamps_with_the_fast_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader.__name__ == "UtcTimestampLoader"


def test_timestamps_read_fast_are_djangos_to_the_microsecond_and_zone():
    fast, slow = _read(VALUES), _read_with_djangos_loader(VALUES)
    assert fast == slow
    assert all(value.tzinfo is UTC for value in fast)  # type: ignore[attr-defined]
    assert [value.isoformat() for value in fast] == [value.isoformat() for value in slow]  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["0044-03-15 12:00:00+00 BC", "infinity"])
def test_what_the_fast_loader_cannot_parse_fails_as_djangos_does(value):
    with pytest.raises(DataError) as slow:
        _read_with_djangos_loader([value])
    with pytest.raises(DataError) as fast:
        _read([value])
    assert str(fast.value) == str(slow.value)


def test_a_session_in_another_zone_reads_as_django_reads_it():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Europe/Paris'")
    try:
        assert _read(VALUES[:2]) == _read_with_djangos_loader(VALUES[:2])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
