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

from functools import cache

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
from portal.prepared import JoinedStatement, joined_statement, prepared_cursor

# (alias, model, join): the tables of the statement, in the order of their columns.
_TABLES = (
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


@cache
def _statement() -> JoinedStatement:
    return joined_statement(_TABLES, "WHERE o.id = %s ORDER BY st.position")


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
    op: Operation = o.instance(first)
    vm: VirtualMachine = v.instance(first)
    vm.tenant, vm.environment = t.instance(first), e.instance(first)
    vm.flavor, vm.image = f.instance(first), i.instance(first)
    if vm.host_id is not None:
        vm.host = h.instance(first)
    op.vm = vm
    if op.snapshot_id is not None:
        op.snapshot = s.instance(first)
    steps = [step for step in (st.instance(row) for row in rows) if step is not None]
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
