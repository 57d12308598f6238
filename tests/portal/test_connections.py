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


def _last_statement_of(pid: int) -> str:
    import psycopg

    dsn = {k: v for k, v in connection.get_connection_params().items() if k != "context"}
    dsn["dbname"] = connection.settings_dict["NAME"]
    with psycopg.connect(**dsn, autocommit=True) as other:
        row = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        return row[0] if row else ""


@pytest.mark.django_db(transaction=True)
def test_a_silent_healthy_connection_is_reused_without_a_round_trip_and_an_ended_one_replaced():
    import psycopg

    assert connection.settings_dict["ENGINE"] == "portal.db.postgresql"
    saved = dict(connection.settings_dict)
    try:
        connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() /* nuage-health */")
            pid = cursor.fetchone()[0]
        # A new request: the check runs before its first statement, and sends none.
        connection.health_check_done = False
        connection.close_if_health_check_failed()
        assert connection.connection is not None
        assert "nuage-health" in _last_statement_of(pid)
        # The server ends the connection (as a restart would): the next request reconnects
        # before its first statement instead of failing.
        dsn = {k: v for k, v in connection.get_connection_params().items() if k != "context"}
        dsn["dbname"] = connection.settings_dict["NAME"]
        with psycopg.connect(**dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # and gone
        connection.health_check_done = False
        connection.close_if_health_check_failed()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        connection.settings_dict.update(saved)
        connection.close()
