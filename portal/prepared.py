"""Statements that PostgreSQL parses and plans once per connection, for the reads every API call
makes (its token, the VM rows' names, ports and latest operations).

Django binds parameters in the client and never prepares: each statement is parsed and planned
again at every request, which for these small reads cost PostgreSQL as much as running them.
`prepared_cursor()` gives, on PostgreSQL, a cursor that binds on the server and prepares each
statement the first time it runs on the connection (psycopg keeps the last 100); elsewhere, or
with NUAGE_DB_PREPARE=0 (behind a pooler in transaction mode that does not keep prepared
statements, PgBouncer before 1.21), Django's own. Queries are logged as Django's are (query
counts in tests and the debug log see them).

"Planned once" needs one more thing: PostgreSQL plans a prepared statement that has parameters
again at each of its first five runs on a connection (a custom plan for those values), and only
then may keep a generic plan. A worker's connection (five minutes) runs an operation's
statements a few times each: its read of the operation (a join of nine tables, about 3 ms of
planning on two cores for 0.3 ms of running) was planned at nearly every task. So every
connection that prepares plans them generically from the first run (`plan_cache_mode`, set
when the connection opens). The statements prepared here look rows up by their ids or a
token's prefix, whatever the values; a statement whose plan would depend on a value writes
that value in its text (the states of `compute.services.placement`'s allocations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


def prepares(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether `prepared_cursor` prepares on this connection (else: Django's cursor)."""
    return _prepares_on(connections[alias])


def _prepares_on(db: Any) -> bool:
    return db.vendor == "postgresql" and bool(settings.NUAGE.get("DB_PREPARE", True))


@cache
def _cursor_class() -> type[Any]:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=True)  # type: ignore[misc]

    return PreparingCursor


@cache
def _logged_cursor_class() -> type[Any]:
    import psycopg

    class LoggedPreparingCursor(_cursor_class()):  # type: ignore[misc]
        """For Django's query log (DEBUG, tests): psycopg keeps no text of a prepared
        statement's run, which Django's log reads (`_query.query`); this gives it the
        statement with its values, as Django's own cursors log theirs."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            result = super().execute(query, params)
            if self._query is None:  # type: ignore[has-type]
                text = psycopg.ClientCursor(self.connection).mogrify(query, params)
                self._query = _Logged(text.encode())
            return result

    return LoggedPreparingCursor


class _Logged:
    __slots__ = ("query",)

    def __init__(self, query: bytes) -> None:
        self.query = query


def _plan_generically(sender: Any, connection: Any, **_kwargs: Any) -> None:
    """A new connection that prepares plans its prepared statements once (see above). On the
    driver's connection, as Django sets the session's time zone: no query in Django's log."""
    if _prepares_on(connection):  # not by alias: Django's own "no database" one has none
        connection.connection.execute("SET plan_cache_mode = force_generic_plan")


def install() -> None:
    """From AppConfig.ready: every new PostgreSQL connection plans its prepared statements once."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_plan_generically, dispatch_uid="nuage-generic-plans")


def prepared_cursor(alias: str = DEFAULT_DB_ALIAS) -> Any:
    """A cursor (use it as a context manager) whose statements are prepared on PostgreSQL; its
    parameters are bound on the server, so a list is one array parameter (`= ANY(%s)`)."""
    db = connections[alias]
    if not prepares(alias):
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    if db.connection.prepare_threshold is None:
        # Django turns preparing off (None), which psycopg takes as "never", even for a
        # statement asked to be prepared. A threshold never reached prepares only those: Django's
        # own cursors bind in the client and never prepare.
        db.connection.prepare_threshold = 1 << 30
    logged = db.queries_logged
    with db.wrap_database_errors:
        raw = (_logged_cursor_class() if logged else _cursor_class())(db.connection)
    return db.make_debug_cursor(raw) if logged else db.make_cursor(raw)


def prepared_rows(
    statements: list[tuple[str, Any]], alias: str = DEFAULT_DB_ALIAS
) -> list[list[tuple[Any, ...]]]:
    """Every statement's rows, in order, the statements prepared as `prepared_cursor`'s.

    Not sent together in psycopg's pipeline mode: it saves round trips but waits for the
    answers by polling a socket that is always writable, which cost more CPU than the round
    trips on a busy web process (bench/api_latency.py, API list: about 1 ms a request)."""
    found = []
    with prepared_cursor(alias) as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            found.append(cursor.fetchall())
    return found


# A model's row with the rows joined to it, in one statement written out once per process
# (`joined_statement`): every column of each table, turned back into model instances as the
# ORM would (each field's converters). For the reads on the way of every task or request,
# whose building and compiling by the ORM cost more than running them.

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class JoinedPart:
    model: type[Model]
    start: int
    names: list[str]  # attnames, in column order
    converters: list[tuple[int, list[Converter], Any]]  # (offset, converters, expression)

    def instance(self, row: Sequence[Any]) -> Any:
        """This table's model instance from a row of the statement (None: a LEFT JOIN that
        found nothing)."""
        values = list(row[self.start : self.start + len(self.names)])
        if values[0] is None:  # the primary key comes first
            return None
        for offset, converters, expression in self.converters:
            for convert in converters:
                values[offset] = convert(values[offset], expression, connection)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.names, values)


@dataclass(frozen=True)
class JoinedStatement:
    sql: str
    parts: list[JoinedPart]


def joined_statement(
    tables: Sequence[tuple[str, type[Model], str]], conditions: str
) -> JoinedStatement:
    """`SELECT <every column of each table> FROM <first> <alias> <joins> <conditions>`.

    `tables` are (alias, model, join) in the order of their columns; the first table's join is
    "", the others' are written with `{t}` for their quoted table name ("LEFT JOIN {t} h ON
    h.id = v.host_id"). `conditions` is the rest of the statement (WHERE, ORDER BY).
    """
    quote = connection.ops.quote_name
    columns: list[str] = []
    joins: list[str] = []
    parts: list[JoinedPart] = []
    for alias, model, join in tables:
        fields = list(model._meta.concrete_fields)
        converters = []
        for offset, field in enumerate(fields):
            col = field.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                converters.append((offset, found, col))
        parts.append(JoinedPart(model, len(columns), [f.attname for f in fields], converters))
        columns += [f"{alias}.{quote(str(f.column))}" for f in fields]
        table = quote(model._meta.db_table)
        joins.append(join.format(t=table) if join else f"{table} {alias}")
    sql = f"SELECT {', '.join(columns)} FROM {' '.join(joins)} {conditions}"  # noqa: S608
    return JoinedStatement(sql, parts)
