"""Database connections outlive a request (web) and a task (Celery worker)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection


def test_web_processes_keep_their_connection_checked_before_reuse():
    config = settings.DATABASES["default"]
    assert config["CONN_MAX_AGE"] == 60
    assert config["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True)
def test_a_worker_reuses_its_connection_from_task_to_task():
    from portal.celery import _close_old_connections, _keep_database_connections, app

    saved = dict(connection.settings_dict)
    worker_fixup = app._fixups[0].worker_fixup
    saved_reuse = worker_fixup.db_reuse_max
    try:
        _keep_database_connections()
        assert connection.settings_dict["CONN_MAX_AGE"] == settings.NUAGE["WORKER_CONN_MAX_AGE"]
        connection.ensure_connection()
        opened = connection.connection
        task = SimpleNamespace(request=SimpleNamespace(is_eager=False))
        for _ in range(3):  # what the worker runs around each task
            worker_fixup.close_database()
            _close_old_connections(sender=task)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            worker_fixup.close_database()
            _close_old_connections(sender=task)
        assert connection.connection is opened
        # A connection past its age is closed between tasks, as Django does between requests.
        connection.close_at = 0
        _close_old_connections(sender=task)
        assert connection.connection is None
    finally:
        task_prerun.disconnect(_close_old_connections)
        task_postrun.disconnect(_close_old_connections)
        worker_fixup.db_reuse_max = saved_reuse
        connection.settings_dict.update(saved)
        connection.close()
