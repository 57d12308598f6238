"""An operation as its task reads it, in one prepared statement on PostgreSQL.

Every task of every operation reads the operation with its VM and what its steps read of it
(tenant, environment, flavor, image, host), the snapshot of a snapshot operation, and its
steps. Through the ORM that is three queries whose SQL Django builds each time (about 1.3 ms
of the worker's CPU for the join of six tables alone) and PostgreSQL plans each time (about
1.2 ms for that join, more than running it). Here it is one statement, written once per
process and prepared once per connection (portal/prepared.py): one row per step, the
operation's columns on each. The rows are turned into model instances as the ORM would
(each field's converters), with the relations cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model

from compute.models import (
    Flavor,
    Host,
    Image,
    Operation,
    OperationStep,
    Snapshot,
    VirtualMachine,
)
from portal.models import Environment, Tenant
from portal.prepared import prepared_cursor

# (alias, model, join): the tables of the statement, in the order of their columns.
_TABLES: tuple[tuple[str, type[Model], str], ...] = (
    ("o", Operation, ""),
    ("v", VirtualMachine, "JOIN {t} v ON v.id = o.vm_id"),
    ("t", Tenant, "JOIN {t} t ON t.id = v.tenant_id"),
    ("e", Environment, "JOIN {t} e ON e.id = v.environment_id"),
    ("f", Flavor, "JOIN {t} f ON f.id = v.flavor_id"),
    ("i", Image, "JOIN {t} i ON i.id = v.image_id"),
    ("h", Host, "LEFT JOIN {t} h ON h.id = v.host_id"),
    ("s", Snapshot, "LEFT JOIN {t} s ON s.id = o.snapshot_id"),
    ("st", OperationStep, "LEFT JOIN {t} st ON st.operation_id = o.id"),
)

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    start: int
    names: list[str]  # attnames, in column order
    converters: list[tuple[int, list[Converter], Any]]  # (offset, converters, expression)


@dataclass(frozen=True)
class _Statement:
    sql: str
    parts: list[_Part]


@cache
def _statement() -> _Statement:
    quote = connection.ops.quote_name
    columns: list[str] = []
    joins: list[str] = []
    parts: list[_Part] = []
    for alias, model, join in _TABLES:
        fields = list(model._meta.concrete_fields)
        converters = []
        for offset, field in enumerate(fields):
            col = field.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                converters.append((offset, found, col))
        parts.append(_Part(model, len(columns), [f.attname for f in fields], converters))
        columns += [f"{alias}.{quote(str(f.column))}" for f in fields]
        table = quote(model._meta.db_table)
        joins.append(join.format(t=table) if join else f"{table} o")
    sql = (
        f"SELECT {', '.join(columns)} FROM {' '.join(joins)} "  # noqa: S608 - names only
        "WHERE o.id = %s ORDER BY st.position"
    )
    return _Statement(sql, parts)


def _instance(part: _Part, row: Sequence[Any]) -> Any:
    values = list(row[part.start : part.start + len(part.names)])
    if values[0] is None:  # a LEFT JOIN that found nothing (the primary key comes first)
        return None
    for offset, converters, expression in part.converters:
        for convert in converters:
            values[offset] = convert(values[offset], expression, connection)
    return part.model.from_db(DEFAULT_DB_ALIAS, part.names, values)


def operation_load(operation_id: int) -> Operation:
    """The operation with its VM (tenant, environment, flavor, image, host), its snapshot if it
    has one and its steps by position (`operation_steps`); the hosts of a migration read by
    the caller. Operation.DoesNotExist if there is none."""
    statement = _statement()
    with prepared_cursor() as cursor:
        cursor.execute(statement.sql, [operation_id])
        rows = cursor.fetchall()
    if not rows:
        raise Operation.DoesNotExist
    o, v, t, e, f, i, h, s, st = statement.parts
    first = rows[0]
    op: Operation = _instance(o, first)
    vm: VirtualMachine = _instance(v, first)
    vm.tenant, vm.environment = _instance(t, first), _instance(e, first)
    vm.flavor, vm.image = _instance(f, first), _instance(i, first)
    if vm.host_id is not None:
        vm.host = _instance(h, first)
    op.vm = vm
    if op.snapshot_id is not None:
        op.snapshot = _instance(s, first)
    steps = [step for step in (_instance(st, row) for row in rows) if step is not None]
    for step in steps:
        step.operation = op
    op._loaded_steps = steps  # type: ignore[attr-defined]
    return op


def operation_steps(op: Operation) -> list[OperationStep]:
    """The operation's steps by position: those read with it, else from the database."""
    loaded = getattr(op, "_loaded_steps", None)
    if loaded is not None:
        return list(loaded)
    return list(op.steps.order_by("position"))
