"""Give every environment that existed before the quotas app its quota row (builtin defaults)."""

from django.db import migrations

BUILTIN = {"vcpus": 64, "ram_mib": 131_072, "disk_gib": 2_048, "vms": 50, "snapshots": 100}


def create_rows(apps, schema_editor):
    Environment = apps.get_model("portal", "Environment")
    Quota = apps.get_model("quotas", "Quota")
    Quota.objects.bulk_create(
        [
            Quota(
                tenant_id=env.tenant_id,
                environment_id=env.pk,
                **{f"{r}_limit": n for r, n in BUILTIN.items()},
            )
            for env in Environment.objects.filter(quota__isnull=True)
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("quotas", "0001_quotas_initial")]
    operations = [migrations.RunPython(create_rows, migrations.RunPython.noop)]
