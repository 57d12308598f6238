"""Provisioning through a real Celery worker process on Redis (simulated hosts)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from tests.support.worker import celery_worker, wait_for


@pytest.mark.django_db(transaction=True)
def test_worker_process_provisions_on_commit(world, sim_host, flavor, image, tmp_path):
    with celery_worker(tmp_path) as worker:
        vm = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=flavor,
            image=image,
            name="via-redis",
        )
        settled = wait_for(
            lambda: VirtualMachine.objects.filter(
                pk=vm.pk, state__in=[VMState.RUNNING, VMState.ERROR]
            ).first(),
            timeout=60,
            what="VM running",
        )
        assert (settled.state, settled.error_message) == (VMState.RUNNING, ""), worker.log()


def _other_backends() -> set[int]:
    """PostgreSQL backends on the test database other than this process's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_worker_keeps_its_database_connection_between_tasks(
    world, sim_host, flavor, image, tmp_path
):
    # Celery's Django fixup closed every connection around each task: each provisioning (and
    # each event delivery) opened a new PostgreSQL connection. The worker keeps one now, as
    # NUAGE_WORKER_CONN_MAX_AGE says.
    with celery_worker(tmp_path, concurrency=1, pool="solo") as worker:
        seen: set[int] = set()
        for i in range(3):
            vm = services.vm_request_create(
                requested_by=world.member,
                environment=world.development,
                flavor=flavor,
                image=image,
                name=f"kept-{i}",
            )
            settled = wait_for(
                lambda vm=vm: VirtualMachine.objects.filter(
                    pk=vm.pk, state__in=[VMState.RUNNING, VMState.ERROR]
                ).first(),
                timeout=60,
                what="VM running",
            )
            assert settled.state == VMState.RUNNING, worker.log()
            # Between tasks, the worker's connection is still open, and it is the same one.
            backends = wait_for(_other_backends, timeout=10, what="the worker's connection")
            seen |= backends
        assert len(seen) == 1, (seen, worker.log())


@pytest.mark.django_db(transaction=True)
def test_task_events_are_sent_once_a_monitor_asks_for_them(tmp_path):
    # Off by default (a Redis round trip per task before it starts); Flower turns them on in
    # every worker while it runs, with the control command sent here.
    import threading

    from compute.tasks import reconcile
    from portal.celery import app

    # With its heartbeat, as a deployed worker runs (docker-compose.yml): its event dispatcher.
    with celery_worker(tmp_path, quiet=("--without-gossip", "--without-mingle")) as worker:
        seen: list[str] = []
        stop = threading.Event()

        def listen() -> None:
            def on_event(event: dict[str, object]) -> None:
                if event.get("hostname") == worker.name and str(event["type"]).startswith("task"):
                    seen.append(str(event["type"]))

            with app.connection_for_read() as conn:
                receiver = app.events.Receiver(conn, handlers={"*": on_event})
                while not stop.is_set():
                    try:
                        receiver.capture(limit=None, timeout=0.5, wakeup=False)
                    except TimeoutError:
                        continue

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            time.sleep(1)  # the listener's queue is bound
            reconcile.delay()
            wait_for(lambda: "succeeded" in worker.log(), timeout=30, what="the task to run")
            time.sleep(1)
            assert seen == []  # nobody asked
            replies = app.control.enable_events(destination=[worker.name], reply=True, timeout=5)
            assert replies and "enabled" in str(replies), replies
            reconcile.delay()
            wait_for(lambda: "task-succeeded" in seen, timeout=30, what=f"task events ({seen})")
            assert seen[0] == "task-received"
        finally:
            stop.set()
            listener.join(timeout=5)
