"""The measured-use models (MeterSample, MeterHourly, MeterDaily) now belong to the metering
app: they leave billing's state only. Their tables stay as they are (metering's 0001_meter_tables
maps its models onto them), so no row is copied and nothing is dropped."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0009_converge_edited_migrations'),
        ('metering', '0001_meter_tables'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='MeterDaily'),
                migrations.DeleteModel(name='MeterHourly'),
                migrations.DeleteModel(name='MeterSample'),
            ],
            database_operations=[],
        ),
    ]
