"""Separate Celery queues: provisioning, metering and notifications each on their own, so that
a slow webhook receiver never holds a VM's provisioning."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import override_settings

from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from portal import routing
from portal.celery import app as celery_app
from portal.gauges import queue_depths
from tests.support.worker import BROKER, Worker, _redis_cleanup, broker, wait_for

PRODUCTION = {
    "provisioning": "provisioning",
    "metering": "metering",
    "notifications": "notifications",
}


def queue_of(name: str, *args: object) -> str:
    """The queue Celery would publish task `name` to."""
    options = celery_app.amqp.router.route({}, name, args, {})
    queue = options.get("queue")
    return getattr(queue, "name", queue) or celery_app.conf.task_default_queue


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("compute.operation_advance", "provisioning"),
        ("compute.network_ensure", "provisioning"),
        ("metering.dispatch", "metering"),
        ("metering.sample_host", "metering"),
        ("metering.sample_hosts", "metering"),
        ("metering.rollup", "metering"),
        ("billing.meter_sample_host", "metering"),
        ("portal.event_deliver", "notifications"),
        ("portal.webhook_deliver", "notifications"),
        ("portal.webhook_redeliver", "notifications"),
    ],
)
def test_each_kind_of_task_goes_to_its_queue(task, queue):
    with override_settings(NUAGE={**settings.NUAGE, "QUEUES": PRODUCTION}):
        assert queue_of(task, 1) == queue


def test_housekeeping_stays_on_the_default_queue_and_an_explicit_queue_wins():
    with override_settings(NUAGE={**settings.NUAGE, "QUEUES": PRODUCTION}):
        for task in ("compute.reconcile", "compute.heartbeat", "billing.budget_check"):
            assert queue_of(task) == settings.CELERY_TASK_DEFAULT_QUEUE
        options = celery_app.amqp.router.route(
            {"queue": "elsewhere"}, "portal.event_deliver", (1,), {}
        )
        assert getattr(options["queue"], "name", options["queue"]) == "elsewhere"
        assert routing.all_queues() == [settings.CELERY_TASK_DEFAULT_QUEUE, *PRODUCTION.values()]


def test_production_settings_separate_the_queues():
    """portal/settings.py's defaults (tests/settings.py folds them into one queue)."""
    from portal import settings as production

    assert production.NUAGE["QUEUES"] == PRODUCTION or all(
        not v for v in settings.NUAGE["QUEUES"].values()
    )
    assert production.CELERY_TASK_ROUTES == ("portal.routing.route_task",)


@pytest.mark.django_db(transaction=True)
def test_provisioning_goes_on_while_notifications_wait(world, sim_host, flavor, image, tmp_path):
    """A worker on the provisioning queue only: the VM runs although nobody consumes the
    notifications queue, where its events (and their webhooks) wait."""
    base = f"nuage-test-{uuid.uuid4().hex[:8]}"
    queues = {kind: f"{base}-{kind}" for kind in routing.KINDS}
    from django.db import connection

    env = {
        **__import__("os").environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_QUEUE": base,
        **{f"CELERY_QUEUE_{kind.upper()}": queue for kind, queue in queues.items()},
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
    }
    worker = Worker(queue=queues["provisioning"], env=env, log_path=tmp_path / "worker.log")
    with (
        override_settings(NUAGE={**settings.NUAGE, "QUEUES": queues}),
        broker(BROKER, queue=base),
    ):
        worker.start()
        try:
            vm = services.vm_request_create(
                requested_by=world.member,
                environment=world.development,
                flavor=flavor,
                image=image,
                name="not-starved",
            )
            wait_for(
                lambda: VirtualMachine.objects.filter(pk=vm.pk, state=VMState.RUNNING).exists(),
                timeout=60,
                what="VM running",
            )
            # vm.running's delivery, sent once the VM's last transaction commits, untouched.
            wait_for(
                lambda: queue_depths()[queues["notifications"]] >= 1,
                timeout=30,
                what="the event's delivery queued",
            )
            assert queue_depths()[queues["provisioning"]] == 0
        finally:
            worker.kill()
            for queue in (base, *queues.values()):
                _redis_cleanup(queue)
    assert "Task compute.operation_advance[" in worker.log()
    assert "Task portal.event_deliver[" not in worker.log()


def test_metering_shards_send_a_host_always_to_the_same_queue():
    sharded = {**settings.NUAGE, "QUEUES": PRODUCTION, "METER_SHARDS": 4}
    with override_settings(NUAGE=sharded):
        assert [routing.metering_queue_for_host(h) for h in (1, 5, 7, 8)] == [
            "metering.1",
            "metering.1",
            "metering.3",
            "metering.0",
        ]
        assert routing.all_queues()[-4:] == [f"metering.{n}" for n in range(4)]
    with override_settings(NUAGE={**settings.NUAGE, "QUEUES": PRODUCTION, "METER_SHARDS": 0}):
        assert routing.metering_queue_for_host(7) is None
        assert not any(q.startswith("metering.") for q in routing.all_queues())
