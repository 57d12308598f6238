"""The database itself refuses UPDATE and DELETE on usage events (PostgreSQL and SQLite)."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION billing_usageevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing_usageevent is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER billing_usageevent_append_only
    BEFORE UPDATE OR DELETE ON billing_usageevent
    FOR EACH ROW EXECUTE FUNCTION billing_usageevent_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS billing_usageevent_append_only ON billing_usageevent;
DROP FUNCTION IF EXISTS billing_usageevent_append_only();
"""
SQLITE_UP = [
    f"""CREATE TRIGGER billing_usageevent_no_{op.lower()} BEFORE {op} ON billing_usageevent
    BEGIN SELECT RAISE(ABORT, 'billing_usageevent is append-only: {op} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS billing_usageevent_no_{op}" for op in ("update", "delete")
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for sql in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(sql, params=None)  # the SQL's % is not a placeholder

    return run


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_billing_ledger")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
