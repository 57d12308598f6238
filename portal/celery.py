"""The Celery application that runs provisioning and periodic jobs."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nuage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
