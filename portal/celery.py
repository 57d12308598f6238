"""The Celery application that runs provisioning and periodic jobs."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nuage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _keep_database_connections(**_kwargs: Any) -> None:
    """A worker keeps its database connections between tasks, checked before reuse, as a web
    process does between requests with CONN_MAX_AGE. Set before the pool starts: forked
    children and threads open theirs with it.

    Celery's Django fixup (5.5 and later) closes every connection before and after each task
    whatever CONN_MAX_AGE says, so each task paid for a new PostgreSQL connection (a backend
    started, its caches cold). Its two task handlers are replaced by Django's own per-request
    housekeeping: `close_old_connections` (closes a connection past its age or broken) and
    the caches' close. The fixup's worker_init receiver was connected when the app was made,
    before this one, so its handlers are in place here.
    """
    from django.conf import settings
    from django.db import connections

    age = int(settings.NUAGE.get("WORKER_CONN_MAX_AGE", 0))
    kept = False
    for alias in connections:
        config = connections.settings[alias]
        if age and not config.get("CONN_MAX_AGE"):
            config["CONN_MAX_AGE"] = age
            config["CONN_HEALTH_CHECKS"] = True
        kept = kept or bool(config.get("CONN_MAX_AGE"))
    if not kept:
        return  # the fixup's closing is what CONN_MAX_AGE 0 asks for
    for fixup in getattr(app, "_fixups", ()):
        worker_fixup = getattr(fixup, "_worker_fixup", None)
        if worker_fixup is not None:
            task_prerun.disconnect(worker_fixup.on_task_prerun)
            task_postrun.disconnect(worker_fixup.on_task_postrun)
    task_prerun.connect(_task_housekeeping, weak=False)
    task_postrun.connect(_task_housekeeping, weak=False)


def _task_housekeeping(sender: Any = None, **_kwargs: Any) -> None:
    """What Django does at each request's start and end, around each task (not eager ones:
    they run inside their caller's request or transaction)."""
    from django.core.cache import close_caches
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    close_old_connections()
    close_caches()
