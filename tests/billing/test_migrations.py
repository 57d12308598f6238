"""Migration billing 0009 brings a database that ran earlier versions of 0003, 0004 and 0008 to
their current definitions: the ledger trigger's per-VM lock above all."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing.choices import UsageKind
from billing.models import UsageEvent, UsageInterval
from tests.factories import EnvironmentFactory, VirtualMachineFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]

converge = importlib.import_module("billing.migrations.0009_converge_edited_migrations").converge

# The first version of 0008's trigger function: the same replay without the advisory lock.
_OLD_LEDGER_FUNCTION = """
CREATE OR REPLACE FUNCTION billing_usageevent_intervals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM billing_usageinterval WHERE vm_id IN (SELECT DISTINCT vm_id FROM new_events);
    RETURN NULL;
END
$$;
"""
# The first version of 0003's line trigger: per row, on every operation.
_OLD_LINE_TRIGGER = """
DROP TRIGGER billing_invoiceline_issued_no_insert ON billing_invoiceline;
DROP TRIGGER billing_invoiceline_issued_no_delete ON billing_invoiceline;
DROP TRIGGER billing_invoiceline_issued_immutable ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_issued_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_issued_immutable();
"""


def _ledger_function() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'billing_usageevent_intervals'")
        [(source,)] = cursor.fetchall()
    return source


def _line_triggers() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = 'billing_invoiceline'::regclass AND NOT tgisinternal ORDER BY tgname"
        )
        return [(name, definition.split(" ON ")[0]) for name, definition in cursor.fetchall()]


def _has_snapshot_index() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('usage_event_snapshots') IS NOT NULL")
        return bool(cursor.fetchone()[0])


def test_the_installed_ledger_trigger_takes_the_per_vm_lock():
    assert "pg_advisory_xact_lock" in _ledger_function()
    assert _has_snapshot_index()


def _intervals() -> list[tuple[object, ...]]:
    fields = ("vm_id", "start_us", "end_us", "existing", "running", "vcpus", "deleted_us")
    return list(UsageInterval.objects.order_by("vm_id", "start_us").values_list(*fields))


def test_a_database_that_ran_the_first_versions_converges():
    env = EnvironmentFactory()
    vm = VirtualMachineFactory(tenant=env.tenant, environment=env)
    at = datetime(2025, 5, 1, tzinfo=UTC)
    kinds = (UsageKind.CREATED, UsageKind.STARTED, UsageKind.STOPPED, UsageKind.DELETED)
    for n, kind in enumerate(kinds):
        UsageEvent.objects.create(
            key=f"k{n}", vm=vm, tenant=env.tenant, environment=env, kind=kind,
            at=at + timedelta(hours=n), vcpus=2, ram_mib=2048, disk_gib=20, flavor=vm.flavor,
        )  # fmt: skip
    intervals = _intervals()
    assert len(intervals) == 3
    current_triggers = _line_triggers()
    with connection.cursor() as cursor:
        # The events' deferred foreign key checks, run now: DDL waits for no pending event.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(_OLD_LEDGER_FUNCTION)
        cursor.execute(_OLD_LINE_TRIGGER)
        cursor.execute("DROP INDEX usage_event_snapshots")
        cursor.execute("DELETE FROM billing_usageinterval")  # as a lock-free race may leave it
    assert "pg_advisory_xact_lock" not in _ledger_function()
    assert _line_triggers() != current_triggers and not _has_snapshot_index()

    with connection.schema_editor() as editor:
        converge(None, editor)

    assert "pg_advisory_xact_lock" in _ledger_function()
    assert _line_triggers() == current_triggers
    assert [name for name, _definition in current_triggers] == [
        "billing_invoiceline_issued_immutable",
        "billing_invoiceline_issued_no_delete",
        "billing_invoiceline_issued_no_insert",
    ]
    assert _has_snapshot_index()
    assert _intervals() == intervals  # rebuilt from the ledger
