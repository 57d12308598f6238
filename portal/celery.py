"""The Celery application that runs provisioning and periodic jobs."""

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nuage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _keep_database_connections(**_kwargs: Any) -> None:
    """A worker keeps its database connections between tasks, checked before reuse.

    Celery's Django fixup closes every connection before and after each task, whatever
    CONN_MAX_AGE says (with CELERY_DB_REUSE_MAX, every that many tasks): a new connection per
    task cost more than a short task's queries. Here its count is made unreachable and
    `_close_old_connections` below does what Django does around a request instead: close only
    a connection that is past its age, broken or left in a failed transaction. The age is
    NUAGE_WORKER_CONN_MAX_AGE unless DATABASE_URL sets `conn_max_age`. Set before the pool
    starts: forked children (whose inherited connections the fixup still drops) and threads
    open theirs with it.
    """
    from django.conf import settings
    from django.db import connections

    age = int(settings.NUAGE.get("WORKER_CONN_MAX_AGE", 0))
    if not getattr(settings, "DB_CONN_MAX_AGE_FROM_URL", False):
        for alias in connections:
            config = connections.settings[alias]
            config["CONN_MAX_AGE"] = age
            config["CONN_HEALTH_CHECKS"] = True
    if any(connections.settings[alias].get("CONN_MAX_AGE") for alias in connections):
        for fixup in getattr(app, "_fixups", []):
            worker_fixup = getattr(fixup, "worker_fixup", None)
            if worker_fixup is not None:
                worker_fixup.db_reuse_max = sys.maxsize
        task_prerun.connect(_close_old_connections, weak=False)
        task_postrun.connect(_close_old_connections, weak=False)


def _close_old_connections(sender: Any = None, **_kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
