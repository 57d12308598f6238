"""Webhook deliveries keep the receiver's status code only: forget the answers' bodies stored
by earlier releases (they could hold whatever an internal service answered)."""

from django.db import migrations


def forget(apps, schema_editor):
    WebhookDelivery = apps.get_model("portal", "WebhookDelivery")
    WebhookDelivery.objects.exclude(response_excerpt="").update(response_excerpt="")


class Migration(migrations.Migration):
    dependencies = [("portal", "0010_audit_request_id")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
