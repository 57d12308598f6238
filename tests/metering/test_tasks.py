"""The metering tasks under their new names, and under the names they had in billing: beat
schedules written before the move and messages already queued still run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings

from metering.models import MeterHourly, MeterSample
from portal.celery import app
from tests.factories import HostFactory, VirtualMachineFactory


def test_every_periodic_job_names_a_registered_task():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]
    assert settings.CELERY_BEAT_SCHEDULE["meter-sample"]["task"] == "metering.dispatch"
    assert settings.CELERY_BEAT_SCHEDULE["meter-rollup"]["task"] == "metering.rollup"


def test_a_message_queued_under_the_old_name_still_rolls_up(world):
    app.loader.import_default_modules()
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    MeterSample.objects.create(
        vm=vm,
        host=HostFactory(),
        at=hour + timedelta(minutes=1),
        cpu_time_ns=0,
        disk_read_bytes=0,
        disk_write_bytes=0,
        net_rx_bytes=0,
        net_tx_bytes=0,
        vcpus=1,
        memory_mib=512,
        memory_used_mib=100,
        cpu_used_vcpus=0.5,
    )
    result = app.tasks["billing.meter_rollup"].delay().get()
    assert result["hourly"] >= 1
    assert MeterHourly.objects.get(vm=vm, bucket=hour).cpu_avg_vcpus == 0.5
    # One host to sample (the factory's, whose libvirt does not open: its cycle stores nothing).
    assert app.tasks["billing.meter_dispatch"].delay().get() == 1
    for old in ("billing.meter_sample_host", "portal.notify_event"):
        assert old in app.tasks
