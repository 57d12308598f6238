"""The Celery application that runs provisioning and periodic jobs."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nuage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _keep_database_connections(**_kwargs: Any) -> None:
    """A worker keeps its database connections between tasks (Celery's Django fixup closes
    them after each task when CONN_MAX_AGE is 0), checked before reuse. Set before the pool
    starts: forked children and threads open theirs with it."""
    from django.conf import settings
    from django.db import connections

    age = int(settings.NUAGE.get("WORKER_CONN_MAX_AGE", 0))
    for alias in connections:
        config = connections.settings[alias]
        if age and not config.get("CONN_MAX_AGE"):
            config["CONN_MAX_AGE"] = age
            config["CONN_HEALTH_CHECKS"] = True
