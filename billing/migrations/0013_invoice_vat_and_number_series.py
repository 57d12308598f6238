"""Invoices get a VAT rate and amount, a due date and the issuer's and customer's details as
issued; credit notes get a number series of their own (the invoices' series goes on where the
single yearly sequence stood)."""

from decimal import Decimal

from django.db import migrations, models


def copy_sequences(apps, schema_editor):
    old = apps.get_model("billing", "InvoiceNumberSequence")
    new = apps.get_model("billing", "NumberSequence")
    new.objects.bulk_create(
        new(series="invoice", year=row.year, last=row.last) for row in old.objects.all()
    )


def copy_back(apps, schema_editor):
    old = apps.get_model("billing", "InvoiceNumberSequence")
    new = apps.get_model("billing", "NumberSequence")
    old.objects.bulk_create(
        old(year=row.year, last=row.last) for row in new.objects.filter(series="invoice")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0012_invoice_line_volume_resource'),
    ]

    operations = [
        migrations.CreateModel(
            name='NumberSequence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('series', models.CharField(choices=[('invoice', 'Invoice'), ('credit_note', 'Credit note')], max_length=20)),
                ('year', models.PositiveIntegerField()),
                ('last', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddConstraint(
            model_name='numbersequence',
            constraint=models.UniqueConstraint(fields=('series', 'year'), name='number_sequence_unique'),
        ),
        migrations.RunPython(copy_sequences, copy_back),
        migrations.DeleteModel(
            name='InvoiceNumberSequence',
        ),
        migrations.AddField(
            model_name='invoice',
            name='customer',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='invoice',
            name='due_date',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='invoice',
            name='issuer',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='invoice',
            name='vat_amount',
            field=models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=14),
        ),
        migrations.AddField(
            model_name='invoice',
            name='vat_rate',
            field=models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=5),
        ),
    ]
