"""A VM's measured use on its page and in the API: windows, hourly chart, idle hint, scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compute.choices import VMState
from compute.models import VirtualMachine
from metering.models import MeterDaily, MeterHourly, MeterSample
from metering.selectors import vm_metrics
from tests.factories import FlavorFactory, HostFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


def hour_floor():
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def vm_of(world, **flavor):
    return VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        state=VMState.RUNNING,
        flavor=FlavorFactory(vcpus=4, ram_mib=8192, disk_gib=10, **flavor),
    )


def hours_of_use(vm, *, hours: int, cpu: float, mem: int) -> None:
    """Rolled-up hours ending at the start of the current hour, 60 samples each."""
    host = HostFactory()
    start = hour_floor() - timedelta(hours=hours)
    MeterHourly.objects.bulk_create(
        MeterHourly(
            vm=vm,
            host=host,
            tenant=vm.tenant,
            bucket=start + timedelta(hours=i),
            cpu_avg_vcpus=cpu,
            cpu_max_vcpus=cpu * 2,
            memory_avg_mib=mem,
            disk_read_bytes=1000,
            disk_write_bytes=2000,
            net_rx_bytes=3000,
            net_tx_bytes=4000,
            samples=60,
        )  # fmt: skip
        for i in range(hours)
    )


def raw_sample(vm, at, cpu: float, mem: int) -> None:
    MeterSample.objects.create(
        vm=vm, host=HostFactory(), at=at, cpu_time_ns=0, disk_read_bytes=0, disk_write_bytes=0,
        net_rx_bytes=0, net_tx_bytes=0, vcpus=4, memory_mib=8192, memory_used_mib=mem,
        interval_seconds=60, cpu_used_vcpus=cpu, disk_read_delta=10, disk_write_delta=20,
        net_rx_delta=30, net_tx_delta=40,
    )  # fmt: skip


def test_windows_add_the_rolled_up_hours_and_the_samples_not_rolled_up_yet(world):
    vm = vm_of(world)
    hours_of_use(vm, hours=2, cpu=1.0, mem=1000)  # 120 samples at 1 vCPU
    now = hour_floor() + timedelta(minutes=2)
    raw_sample(vm, hour_floor() + timedelta(seconds=30), 4.0, 4000)
    raw_sample(vm, hour_floor() + timedelta(seconds=90), 4.0, 4000)

    m = vm_metrics(fetched_by=world.member, vm_id=vm.pk, now=now)

    assert m.last_hour.samples == 2 and m.last_hour.cpu_avg_vcpus == 4.0
    assert m.last_day.samples == 122
    assert m.last_day.cpu_avg_vcpus == pytest.approx((120 * 1.0 + 2 * 4.0) / 122, abs=1e-4)
    assert m.last_day.cpu_max_vcpus == 4.0
    assert m.last_day.disk_read_bytes == 2 * 1000 + 2 * 10
    assert m.last_30_days.net_tx_bytes == 2 * 4000 + 2 * 40
    # The chart: 24 hours, the last two rolled up at 1 vCPU, the current one at 4 so far.
    assert [h.cpu_avg_vcpus for h in m.hourly_cpu[-3:]] == [1.0, 1.0, 4.0]
    assert len(m.hourly_cpu) == 24 and m.hourly_cpu[0].cpu_avg_vcpus is None
    assert not m.idle


def test_another_tenants_vm_has_no_metrics(world, other_world):
    vm = vm_of(world)
    with pytest.raises(VirtualMachine.DoesNotExist):
        vm_metrics(fetched_by=other_world.member, vm_id=vm.pk)
    client = APIClient()
    client.force_authenticate(other_world.member)
    assert client.get(f"/api/v1/vms/{vm.pk}/metrics/").status_code == 404


def test_idle_vm_page_says_so_and_names_a_smaller_flavor(world, client):
    vm = vm_of(world)
    FlavorFactory(name="small", vcpus=1, ram_mib=1024, disk_gib=10)
    hours_of_use(vm, hours=25, cpu=0.02, mem=300)

    client.force_login(world.member)
    page = client.get(reverse("ui:vm-detail", args=[vm.pk])).content.decode()

    assert "Measured use" in page
    assert "This VM sat idle." in page
    assert "The smaller flavor small would hold it." in page
    assert "<svg" in page and "Mean CPU use per hour over the last 24 hours" in page


def test_busy_or_newly_measured_vm_gets_no_hint(world, client):
    busy = vm_of(world)
    hours_of_use(busy, hours=25, cpu=2.0, mem=6000)
    new = vm_of(world)
    hours_of_use(new, hours=3, cpu=0.0, mem=100)  # idle, but for 3 hours only

    client.force_login(world.member)
    for vm in (busy, new):
        page = client.get(reverse("ui:vm-detail", args=[vm.pk])).content.decode()
        assert "Measured use" in page and "sat idle" not in page


def test_vm_without_samples_says_none_yet(world, client):
    vm = vm_of(world)
    client.force_login(world.member)
    page = client.get(reverse("ui:vm-detail", args=[vm.pk])).content.decode()
    assert "No measurements yet" in page


def test_metrics_api_gives_the_allocation_beside_the_use(world):
    vm = vm_of(world)
    hours_of_use(vm, hours=25, cpu=0.02, mem=300)
    client = APIClient()
    client.force_authenticate(world.member)

    body = client.get(f"/api/v1/vms/{vm.pk}/metrics/").json()

    assert body["allocation"] == {"vcpus": 4, "ram_mib": 8192, "disk_gib": 10}
    assert body["last_day"]["cpu_avg_vcpus"] == pytest.approx(0.02)
    assert body["last_day"]["samples"] == 24 * 60
    assert body["idle"] is True
    assert len(body["hourly_cpu"]) == 24


def test_windows_count_each_measurement_once_across_daily_hourly_and_raw_tiers(
    world, django_assert_num_queries
):
    vm = vm_of(world)
    host = HostFactory()
    hour = hour_floor()
    today = hour.replace(hour=0)
    rollup = {
        "vm": vm, "host": host, "tenant": vm.tenant, "cpu_avg_vcpus": 1.0, "cpu_max_vcpus": 1.0,
        "memory_avg_mib": 1000, "disk_read_bytes": 1, "disk_write_bytes": 1, "net_rx_bytes": 1,
        "net_tx_bytes": 1,
    }  # fmt: skip
    # Three days rolled up to daily rows (the daily rollups end at today's midnight), and the
    # 30 hours before this one rolled up to hourly rows (those before midnight are also in the
    # daily rows); a sample of the last hour is rolled up, this hour's is not yet.
    MeterDaily.objects.bulk_create(
        MeterDaily(bucket=today - timedelta(days=d), samples=1440, **rollup) for d in (1, 2, 3)
    )
    MeterHourly.objects.bulk_create(
        MeterHourly(bucket=hour - timedelta(hours=h), samples=60, **rollup) for h in range(1, 31)
    )
    raw_sample(vm, hour - timedelta(minutes=10), 1.0, 1000)
    raw_sample(vm, hour + timedelta(seconds=10), 1.0, 1000)
    now = hour + timedelta(minutes=2)

    with django_assert_num_queries(1):  # the page's VM given: one statement, not idle
        m = vm_metrics(fetched_by=world.member, vm_id=vm.pk, now=now, in_scope=vm)

    assert m.last_hour.samples == 2  # raw samples only, rolled up or not
    assert m.last_day.samples == 24 * 60 + 1
    hours_today = min(hour.hour, 30)
    assert m.last_30_days.samples == 3 * 1440 + hours_today * 60 + 1
    assert m.last_30_days.disk_read_bytes == 3 + hours_today + 10
    assert m.measured_hours == pytest.approx(
        (now - (today - timedelta(days=3))) / timedelta(hours=1)
    )
    assert [h.cpu_avg_vcpus for h in m.hourly_cpu] == [1.0] * 24
