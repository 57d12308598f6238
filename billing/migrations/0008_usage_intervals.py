"""Usage intervals, the ledger's projection that invoicing sums; drafts no longer store lines.

On PostgreSQL a statement-level trigger on billing_usageevent rewrites the intervals of every VM
an INSERT touched, from all of that VM's events, in the same transaction; existing events are
replayed once here. The replay orders a VM's events by (at, id), as billing/usage.py does: the
allocation is that of the last created, started or resized event; the VM exists once created or
started until deleted, and runs once started until stopped or deleted; each event opens a
stretch up to the next one (the last one stays open). Only stretches that charge something are
kept.
"""

import django.db.models.deletion
from django.db import migrations, models

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

PG_UP = (
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
CREATE TRIGGER billing_usageevent_intervals
    AFTER INSERT ON billing_usageevent REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_intervals();
"""
    + REPLAY.format(which="TRUE")
    + ";"
)
PG_DOWN = """
DROP TRIGGER IF EXISTS billing_usageevent_intervals ON billing_usageevent;
DROP FUNCTION IF EXISTS billing_usageevent_intervals();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_UP, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DOWN, params=None)


def drop_draft_lines(apps, schema_editor):
    """Drafts keep no lines from now on: their header keeps how many they had."""
    invoice = apps.get_model("billing", "Invoice")
    line = apps.get_model("billing", "InvoiceLine")
    for draft in invoice.objects.filter(status="draft"):
        draft.line_count = line.objects.filter(invoice=draft).count()
        draft.save(update_fields=["line_count"])
    line.objects.filter(invoice__status="draft").delete()
    # Issued invoices keep their lines; their count is recorded once, the freeze lifted for it.
    count = "(SELECT COUNT(*) FROM billing_invoiceline l WHERE l.invoice_id = billing_invoice.id)"
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE billing_invoice DISABLE TRIGGER billing_invoice_issued_immutable"
        )
    schema_editor.execute(f"UPDATE billing_invoice SET line_count = {count} WHERE status <> 'draft'")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE billing_invoice ENABLE TRIGGER billing_invoice_issued_immutable"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_invoice_lines_digest"),
        ("compute", "0007_drs"),
        ("portal", "0007_tenant_timezone"),
    ]

    operations = [
        migrations.RemoveField(model_name="invoice", name="lines_digest"),
        migrations.AddField(
            model_name="invoice",
            name="line_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.CreateModel(
            name="UsageInterval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("start_us", models.BigIntegerField()),
                ("end_us", models.BigIntegerField(null=True)),
                ("vcpus", models.PositiveIntegerField()),
                ("ram_mib", models.PositiveIntegerField()),
                ("disk_gib", models.PositiveIntegerField()),
                ("existing", models.BooleanField()),
                ("running", models.BooleanField()),
                ("deleted_us", models.BigIntegerField(null=True)),
                (
                    "environment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="portal.environment",
                    ),
                ),
                (
                    "flavor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="compute.flavor",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="portal.tenant",
                    ),
                ),
                (
                    "vm",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="compute.virtualmachine",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "start_us"], name="usage_interval_tenant")
                ],
            },
        ),
        migrations.AddIndex(
            model_name="usageevent",
            index=models.Index(
                condition=models.Q(("kind__in", ["snapshot_created", "snapshot_deleted"])),
                fields=["tenant", "vm"],
                name="usage_event_snapshots",
            ),
        ),
        migrations.RunPython(install, remove),
        migrations.RunPython(drop_draft_lines, migrations.RunPython.noop),
    ]
