"""The measured-use models move here from billing, tables and rows untouched.

billing's 0004_samples created the tables; this migration only tells Django's state that the
models now belong to metering, under the same table names (billing's 0010 drops them from its
own state, also without touching the database). The content types follow the models, so any
permission or generic reference to them keeps its row.
"""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("metersample", "meterhourly", "meterdaily")


def _move_content_types(apps, schema_editor, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    taken = set(
        ContentType.objects.using(db)
        .filter(app_label=target, model__in=MODELS)
        .values_list("model", flat=True)
    )
    ContentType.objects.using(db).filter(app_label=source, model__in=MODELS).exclude(
        model__in=taken
    ).update(app_label=target)


def content_types_to_metering(apps, schema_editor):
    _move_content_types(apps, schema_editor, "billing", "metering")


def content_types_to_billing(apps, schema_editor):
    _move_content_types(apps, schema_editor, "metering", "billing")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('billing', '0004_samples'),  # the tables
        ('compute', '0007_drs'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('portal', '0007_tenant_timezone'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='MeterDaily',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('bucket', models.DateTimeField()),
                        ('cpu_avg_vcpus', models.FloatField(null=True)),
                        ('cpu_max_vcpus', models.FloatField(null=True)),
                        ('memory_avg_mib', models.PositiveIntegerField()),
                        ('disk_read_bytes', models.BigIntegerField()),
                        ('disk_write_bytes', models.BigIntegerField()),
                        ('net_rx_bytes', models.BigIntegerField()),
                        ('net_tx_bytes', models.BigIntegerField()),
                        ('samples', models.PositiveIntegerField()),
                        ('host', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='compute.host')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='portal.tenant')),
                        ('vm', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='compute.virtualmachine')),
                    ],
                    options={
                        'db_table': 'billing_meterdaily',
                        'ordering': ['bucket', 'vm'],
                        'abstract': False,
                        'indexes': [models.Index(fields=['bucket'], name='meter_daily_bucket'), models.Index(fields=['tenant', 'bucket'], name='meter_daily_tenant_bucket'), models.Index(fields=['host', 'bucket'], name='meter_daily_host_bucket')],
                        'constraints': [models.UniqueConstraint(fields=('vm', 'bucket'), name='meter_daily_unique_vm_bucket')],
                    },
                ),
                migrations.CreateModel(
                    name='MeterHourly',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('bucket', models.DateTimeField()),
                        ('cpu_avg_vcpus', models.FloatField(null=True)),
                        ('cpu_max_vcpus', models.FloatField(null=True)),
                        ('memory_avg_mib', models.PositiveIntegerField()),
                        ('disk_read_bytes', models.BigIntegerField()),
                        ('disk_write_bytes', models.BigIntegerField()),
                        ('net_rx_bytes', models.BigIntegerField()),
                        ('net_tx_bytes', models.BigIntegerField()),
                        ('samples', models.PositiveIntegerField()),
                        ('host', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='compute.host')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='portal.tenant')),
                        ('vm', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='compute.virtualmachine')),
                    ],
                    options={
                        'db_table': 'billing_meterhourly',
                        'ordering': ['bucket', 'vm'],
                        'abstract': False,
                        'indexes': [models.Index(fields=['bucket'], name='meter_hourly_bucket'), models.Index(fields=['tenant', 'bucket'], name='meter_hourly_tenant_bucket'), models.Index(fields=['host', 'bucket'], name='meter_hourly_host_bucket')],
                        'constraints': [models.UniqueConstraint(fields=('vm', 'bucket'), name='meter_hourly_unique_vm_bucket')],
                    },
                ),
                migrations.CreateModel(
                    name='MeterSample',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField()),
                        ('cpu_time_ns', models.BigIntegerField()),
                        ('disk_read_bytes', models.BigIntegerField()),
                        ('disk_write_bytes', models.BigIntegerField()),
                        ('net_rx_bytes', models.BigIntegerField()),
                        ('net_tx_bytes', models.BigIntegerField()),
                        ('vcpus', models.PositiveIntegerField()),
                        ('memory_mib', models.PositiveIntegerField()),
                        ('memory_used_mib', models.PositiveIntegerField()),
                        ('interval_seconds', models.FloatField(null=True)),
                        ('cpu_used_vcpus', models.FloatField(null=True)),
                        ('disk_read_delta', models.BigIntegerField(default=0)),
                        ('disk_write_delta', models.BigIntegerField(default=0)),
                        ('net_rx_delta', models.BigIntegerField(default=0)),
                        ('net_tx_delta', models.BigIntegerField(default=0)),
                        ('host', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='compute.host')),
                        ('vm', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='compute.virtualmachine')),
                    ],
                    options={
                        'db_table': 'billing_metersample',
                        'ordering': ['at', 'id'],
                        'indexes': [models.Index(fields=['at'], name='meter_sample_at'), models.Index(fields=['host', 'at'], name='meter_sample_host_at')],
                        'constraints': [models.UniqueConstraint(fields=('vm', 'at'), name='meter_sample_unique_vm_at')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_metering, content_types_to_billing),
    ]
