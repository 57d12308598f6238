"""Invoices, their lines and the yearly number sequence.

The database itself refuses UPDATE and DELETE of an issued invoice, and any change to the lines of
one (a trigger on PostgreSQL, the database of record; nothing on SQLite, the demo only). Issuing
is the UPDATE of a draft, so it passes; TRUNCATE (how test databases are reset) is not a row
operation and passes too.
"""

import django.core.validators
import django.db.models.deletion
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

PG_INSTALL = """
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
CREATE TRIGGER billing_invoiceline_issued_immutable
    BEFORE UPDATE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_issued_immutable();

-- Inserts and deletes are checked once per statement over the rows they touched: a draft of
-- every tenant writes a hundred thousand lines in one COPY.
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
CREATE TRIGGER billing_invoiceline_issued_no_insert
    AFTER INSERT ON billing_invoiceline REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION billing_invoiceline_issued_unchanged();
CREATE TRIGGER billing_invoiceline_issued_no_delete
    AFTER DELETE ON billing_invoiceline REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION billing_invoiceline_issued_unchanged();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS billing_invoiceline_issued_no_delete ON billing_invoiceline;
DROP TRIGGER IF EXISTS billing_invoiceline_issued_no_insert ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoiceline_issued_unchanged();
DROP TRIGGER IF EXISTS billing_invoiceline_issued_immutable ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoiceline_issued_immutable();
DROP TRIGGER IF EXISTS billing_invoice_issued_immutable ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_issued_immutable();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_INSTALL, params=None)  # no placeholders: the % is PL/pgSQL's


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REMOVE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_usage_event_append_only'),
        ('compute', '0005_host_capacity_tags'),
        ('portal', '0007_tenant_timezone'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InvoiceNumberSequence',
            fields=[
                ('year', models.PositiveIntegerField(primary_key=True, serialize=False)),
                ('last', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='Invoice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tenant_name', models.CharField(max_length=100)),
                ('year', models.PositiveSmallIntegerField()),
                ('month', models.PositiveSmallIntegerField()),
                ('timezone', models.CharField(max_length=64)),
                ('period_start', models.DateTimeField()),
                ('period_end', models.DateTimeField()),
                ('currency', models.CharField(max_length=3, validators=[django.core.validators.RegexValidator('^[A-Z]{3}$', 'Use a three-letter ISO 4217 currency code, such as EUR.')])),
                ('kind', models.CharField(choices=[('invoice', 'Invoice'), ('credit_note', 'Credit note')], default='invoice', max_length=20)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('issued', 'Issued')], default='draft', max_length=10)),
                ('number', models.CharField(blank=True, max_length=20, null=True, unique=True)),
                ('total', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=14)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('issued_at', models.DateTimeField(blank=True, null=True)),
                ('issued_by_username', models.CharField(blank=True, max_length=150)),
                ('corrects', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='credit_notes', to='billing.invoice')),
                ('drafted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('issued_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='portal.tenant')),
            ],
            options={
                'ordering': ['-year', '-month', 'tenant_name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='InvoiceLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sort_key', models.PositiveIntegerField()),
                ('vm_name', models.CharField(max_length=63)),
                ('environment_name', models.CharField(max_length=63)),
                ('resource', models.CharField(choices=[('cpu', 'vCPU'), ('ram', 'RAM'), ('disk', 'Disk'), ('flavor', 'Flavor'), ('snapshot', 'Snapshots')], max_length=20)),
                ('unit', models.CharField(max_length=10)),
                ('flavor_name', models.CharField(blank=True, max_length=100)),
                ('quantity', models.DecimalField(decimal_places=10, max_digits=20)),
                ('unit_price', models.DecimalField(blank=True, decimal_places=6, max_digits=14, null=True)),
                ('seconds', models.DecimalField(decimal_places=6, max_digits=20)),
                ('start', models.DateTimeField()),
                ('end', models.DateTimeField()),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('description', models.CharField(max_length=300)),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='billing.invoice')),
                ('price_list', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.pricelist')),
                ('vm', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='compute.virtualmachine')),
            ],
            options={
                'ordering': ['invoice', 'sort_key'],
            },
        ),
        migrations.AddIndex(
            model_name='invoice',
            index=models.Index(fields=['tenant', 'year', 'month'], name='invoice_tenant_period'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'invoice'), ('status', 'draft')), fields=('tenant', 'year', 'month'), name='invoice_one_draft_per_period'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'credit_note')), fields=('corrects',), name='invoice_one_credit_note_each'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'draft'), ('number__isnull', True), ('issued_at__isnull', True)), models.Q(('status', 'issued'), ('number__isnull', False), ('issued_at__isnull', False)), _connector='OR'), name='invoice_number_iff_issued'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'invoice'), ('corrects__isnull', True)), models.Q(('kind', 'credit_note'), ('corrects__isnull', False)), _connector='OR'), name='invoice_credit_note_corrects'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(('month__gte', 1), ('month__lte', 12)), name='invoice_month_valid'),
        ),
        migrations.AddConstraint(
            model_name='invoiceline',
            constraint=models.UniqueConstraint(fields=('invoice', 'sort_key'), name='invoice_line_unique_key'),
        ),
        migrations.RunPython(install, remove),
    ]
