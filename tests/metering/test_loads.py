"""host_loads and vm_loads: the figures placement and DRS read from the samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from compute.models import Host, VirtualMachine
from metering.models import MeterSample
from metering.selectors import HostLoad, VmLoad, host_loads, vm_loads
from tests.factories import HostFactory, VirtualMachineFactory

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def sample(vm: VirtualMachine, host: Host, at: datetime, cpu: float | None, mem: int) -> None:
    MeterSample.objects.create(
        vm=vm, host=host, at=at, cpu_time_ns=0, disk_read_bytes=0, disk_write_bytes=0,
        net_rx_bytes=0, net_tx_bytes=0, vcpus=2, memory_mib=2048, memory_used_mib=mem,
        cpu_used_vcpus=cpu,
    )  # fmt: skip


@pytest.mark.django_db
def test_host_load_is_the_mean_of_each_cycles_sum_over_its_vms() -> None:
    h1, h2 = HostFactory(), HostFactory()
    a, b, c = VirtualMachineFactory(), VirtualMachineFactory(), VirtualMachineFactory()
    for minute, (cpu_a, cpu_b) in enumerate([(0.5, 1.0), (1.5, 1.0)]):
        at = T0 + timedelta(minutes=minute)
        sample(a, h1, at, cpu_a, 1000)
        sample(b, h1, at, cpu_b, 500)
    sample(c, h2, T0, 0.25, 300)
    sample(c, h2, T0 - timedelta(hours=2), 9.0, 9000)  # before the window

    loads = host_loads(T0 - timedelta(minutes=5))

    assert loads == {
        h1.pk: HostLoad(cpu_used_vcpus=2.0, mem_used_mib=1500, samples=4),
        h2.pk: HostLoad(cpu_used_vcpus=0.25, mem_used_mib=300, samples=1),
    }


@pytest.mark.django_db
def test_vm_load_averages_its_samples_and_ignores_a_first_sample_without_cpu() -> None:
    host = HostFactory()
    vm = VirtualMachineFactory()
    sample(vm, host, T0, None, 400)
    sample(vm, host, T0 + timedelta(minutes=1), 0.5, 600)
    sample(vm, host, T0 + timedelta(minutes=2), 1.5, 800)

    assert vm_loads(T0) == {vm.pk: VmLoad(cpu_used_vcpus=1.0, mem_used_mib=600)}
    assert vm_loads(T0 + timedelta(hours=1)) == {}
