"""Reading PostgreSQL timestamps at C speed: the same aware datetimes as Django's loader.

Django loads every `timestamptz` through psycopg's pure-Python parser (its own loader subclasses
it to set the zone), about 10 µs a value: a page of 50 VMs with their operations' steps reads
some 600 of them, a few milliseconds of every API list. A connection whose session time zone is
UTC (Django's, with USE_TZ and no database TIME_ZONE) prints them as `2026-12-06
07:10:39.854361+00`, which `datetime.fromisoformat` parses in C to the very value Django gives
(tzinfo `datetime.timezone.utc`). Anything else it does not parse so (a BC date, infinity, a
session in another zone) goes to Django's loader as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db.backends.signals import connection_created


@cache
def _loader() -> type[Any]:
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class UtcTimestampLoader(BaseTzLoader):
        # Django's create_cursor compares this to the connection's zone (then keeps us).
        timezone = UTC

        def load(self, data: Any) -> datetime:
            try:
                value = datetime.fromisoformat(str(data, "ascii"))
            except (ValueError, UnicodeDecodeError):
                value = None
            if value is None or value.tzinfo is not UTC:
                return super().load(data)
            return value

    return UtcTimestampLoader


def _use_fast_loader(sender: Any, connection: Any, **_kwargs: Any) -> None:
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    adapters = getattr(connection.connection, "adapters", None)  # psycopg 3 only
    if adapters is not None:
        adapters.register_loader("timestamptz", _loader())


def install() -> None:
    """From AppConfig.ready: every new PostgreSQL connection reads timestamps the fast way."""
    connection_created.connect(_use_fast_loader, dispatch_uid="nuage-fast-timestamps")
