"""Bring every database to the current definitions of migrations 0003, 0004 and 0008.

Those three were edited after some databases had run them, and Django never runs a migration
twice, so such a database kept the old objects:
- 0003: the invoice line trigger was per row on INSERT, UPDATE and DELETE; it is now per row on
  UPDATE plus one check per statement on INSERT and DELETE (a COPY of many lines).
- 0004: the sample table's host and VM columns lost their database foreign keys.
- 0008: the ledger trigger gained a per-VM advisory lock (without it two transactions inserting
  events of one VM at once can leave its intervals wrong), and the ledger a partial index on its
  snapshot events.
Each definition is asserted again here, whatever the database ran before: functions are
replaced, triggers dropped and created, the index created if missing, foreign keys dropped if
present; the intervals are rebuilt from the ledger, since a lock-free trigger may have left some
wrong. On a database that already had everything, this changes nothing but the rebuild.
"""

from django.db import migrations

REPLAY = """
WITH numbered AS (
    SELECT e.id, e.vm_id, e.kind, e.at, e.vcpus, e.ram_mib, e.disk_gib, e.flavor_id,
           (EXTRACT(EPOCH FROM e.at) * 1000000)::bigint AS us,
           ROW_NUMBER() OVER w AS rn,
           FIRST_VALUE(e.tenant_id) OVER w AS tenant_id,
           FIRST_VALUE(e.environment_id) OVER w AS environment_id,
           MIN(CASE WHEN e.kind = 'deleted' THEN e.at END) OVER (PARTITION BY e.vm_id)
               AS deleted_at
    FROM billing_usageevent e
    WHERE {which}
    WINDOW w AS (
        PARTITION BY e.vm_id ORDER BY e.at, e.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),
ev AS (
    -- "The last event of some kinds so far" as a running max of (row number << 32 | value).
    SELECT vm_id, tenant_id, environment_id, us, LEAD(us) OVER w AS next_us,
           (EXTRACT(EPOCH FROM deleted_at) * 1000000)::bigint AS deleted_us,
           MAX(CASE WHEN kind IN ('created', 'started', 'resized') THEN (rn << 32) | vcpus END)
               OVER w AS vcpus,
           MAX(CASE WHEN kind IN ('created', 'started', 'resized') THEN (rn << 32) | ram_mib END)
               OVER w AS ram_mib,
           MAX(CASE WHEN kind IN ('created', 'started', 'resized') THEN (rn << 32) | disk_gib END)
               OVER w AS disk_gib,
           MAX(CASE WHEN kind IN ('created', 'started', 'resized') THEN (rn << 32) | flavor_id END)
               OVER w AS flavor_id,
           MAX(CASE WHEN kind IN ('created', 'started') THEN rn * 2 + 1
                    WHEN kind = 'deleted' THEN rn * 2 END) OVER w AS existing,
           MAX(CASE WHEN kind = 'started' THEN rn * 2 + 1
                    WHEN kind IN ('stopped', 'deleted') THEN rn * 2 END) OVER w AS running
    FROM numbered
    WINDOW w AS (
        PARTITION BY vm_id ORDER BY at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
INSERT INTO billing_usageinterval (vm_id, tenant_id, environment_id, start_us, end_us, vcpus,
                                   ram_mib, disk_gib, flavor_id, existing, running,
                                   deleted_us)
SELECT vm_id, tenant_id, environment_id, us, next_us, vcpus & 4294967295,
       ram_mib & 4294967295, disk_gib & 4294967295, flavor_id & 4294967295,
       COALESCE(existing % 2 = 1, FALSE), COALESCE(running % 2 = 1, FALSE), deleted_us
FROM ev
WHERE (next_us IS NULL OR next_us > us)
  AND (COALESCE(existing % 2 = 1, FALSE) OR COALESCE(running % 2 = 1, FALSE))
"""

# 0008 as it is now: the trigger with its advisory lock.
LEDGER_TRIGGER = (
    """
CREATE OR REPLACE FUNCTION billing_usageevent_intervals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- One writer per VM at a time, whoever calls: a concurrent insert for the same VM waits
    -- here until this transaction ends, then its statements (each with a fresh snapshot under
    -- READ COMMITTED) see these events and intervals. Locks are taken in VM order.
    PERFORM pg_advisory_xact_lock(1651405685, (vm_id % 2147483647)::int)
    FROM (SELECT DISTINCT vm_id FROM new_events ORDER BY vm_id) AS touched;
    DELETE FROM billing_usageinterval
    WHERE vm_id IN (SELECT DISTINCT vm_id FROM new_events);
"""
    + REPLAY.format(which="e.vm_id IN (SELECT DISTINCT vm_id FROM new_events)")
    + """;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS billing_usageevent_intervals ON billing_usageevent;
CREATE TRIGGER billing_usageevent_intervals
    AFTER INSERT ON billing_usageevent REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_intervals();
"""
    # Rebuilt with the ledger locked against inserts, which wait and then replay their VMs.
    + "LOCK TABLE billing_usageevent IN SHARE MODE; DELETE FROM billing_usageinterval;"
    + REPLAY.format(which="TRUE")
    + ";"
)

# 0003 as it is now (the functions replaced, the triggers created afresh).
INVOICE_TRIGGERS = """
CREATE OR REPLACE FUNCTION billing_invoice_issued_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'issued' THEN
        RAISE EXCEPTION 'invoice % is issued: % refused; issue a credit note', OLD.number, TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS billing_invoice_issued_immutable ON billing_invoice;
CREATE TRIGGER billing_invoice_issued_immutable
    BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_issued_immutable();

CREATE OR REPLACE FUNCTION billing_invoiceline_issued_immutable() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM billing_invoice WHERE id IN (OLD.invoice_id, NEW.invoice_id)
               AND status = 'issued') THEN
        RAISE EXCEPTION 'lines of an issued invoice are immutable: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS billing_invoiceline_issued_immutable ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_issued_immutable
    BEFORE UPDATE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_issued_immutable();

CREATE OR REPLACE FUNCTION billing_invoiceline_issued_unchanged() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed JOIN billing_invoice i ON i.id = changed.invoice_id
               WHERE i.status = 'issued') THEN
        RAISE EXCEPTION 'lines of an issued invoice are immutable: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS billing_invoiceline_issued_no_insert ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_issued_no_insert
    AFTER INSERT ON billing_invoiceline REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION billing_invoiceline_issued_unchanged();
DROP TRIGGER IF EXISTS billing_invoiceline_issued_no_delete ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_issued_no_delete
    AFTER DELETE ON billing_invoiceline REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION billing_invoiceline_issued_unchanged();
"""

# 0004 as it is now: no database foreign key from the samples to hosts and VMs (the table may
# have moved to the metering app by the time this runs; either name is looked for).
SAMPLE_FOREIGN_KEYS = """
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT c.conrelid::regclass AS tbl, c.conname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
        WHERE c.contype = 'f'
          AND c.conrelid IN (SELECT t FROM (VALUES (to_regclass('billing_metersample')),
                                                   (to_regclass('metering_metersample'))) AS v(t)
                             WHERE t IS NOT NULL)
          AND a.attname IN ('host_id', 'vm_id')
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;
END
$$;
"""


# 0008's partial index, on both databases (SQLite has partial indexes too).
SNAPSHOT_INDEX = (
    "CREATE INDEX IF NOT EXISTS usage_event_snapshots ON billing_usageevent (tenant_id, vm_id) "
    "WHERE kind IN ('snapshot_created', 'snapshot_deleted')"
)


def converge(apps, schema_editor):
    schema_editor.execute(SNAPSHOT_INDEX, params=None)
    if schema_editor.connection.vendor != "postgresql":
        return  # the triggers and foreign keys above exist on PostgreSQL only
    for sql in (INVOICE_TRIGGERS, SAMPLE_FOREIGN_KEYS, LEDGER_TRIGGER):
        schema_editor.execute(sql, params=None)  # no placeholders: the % is PL/pgSQL's


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_usage_intervals")]

    # Backwards there is nothing to undo: 0008, 0004 and 0003 own these objects.
    operations = [migrations.RunPython(converge, migrations.RunPython.noop)]
