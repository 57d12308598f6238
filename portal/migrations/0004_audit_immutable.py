"""The database itself refuses UPDATE and DELETE on audit entries (a trigger).

On PostgreSQL, the database of record, a trigger function raises; on SQLite (the demo only) a
trigger aborts. TRUNCATE stays possible: it is what test databases are reset with, and no
application code path issues it.
"""

from django.db import migrations

PG_INSTALL = """
CREATE OR REPLACE FUNCTION portal_auditentry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries cannot be changed or deleted (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS portal_auditentry_immutable ON portal_auditentry;
CREATE TRIGGER portal_auditentry_immutable
    BEFORE UPDATE OR DELETE ON portal_auditentry
    FOR EACH ROW EXECUTE FUNCTION portal_auditentry_immutable();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS portal_auditentry_immutable ON portal_auditentry;
DROP FUNCTION IF EXISTS portal_auditentry_immutable();
"""
SQLITE_INSTALL = [
    """CREATE TRIGGER IF NOT EXISTS portal_auditentry_no_update BEFORE UPDATE ON portal_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit entries cannot be changed or deleted (UPDATE refused)'); END""",
    """CREATE TRIGGER IF NOT EXISTS portal_auditentry_no_delete BEFORE DELETE ON portal_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit entries cannot be changed or deleted (DELETE refused)'); END""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS portal_auditentry_no_update",
    "DROP TRIGGER IF EXISTS portal_auditentry_no_delete",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_INSTALL, params=None)  # no placeholders: the % is PL/pgSQL's
    elif vendor == "sqlite":
        for statement in SQLITE_INSTALL:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REMOVE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REMOVE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_audit_history_kept")]

    operations = [migrations.RunPython(install, remove)]
