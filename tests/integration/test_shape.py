"""A VM's shape on real QEMU guests: flavor limits enforced by cgroups and QEMU, and resize.

Tasks run eagerly in this process (tests.settings): each service call returns once its
operation has finished. The guest is read through its serial console (the tiny guest runs a
shell there after its marker).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import libvirt
import pytest

from compute import hypervisor, services
from compute.choices import OperationKind, OperationStatus, VMState
from compute.hypervisor.console import SerialConsole
from compute.models import Host, VirtualMachine
from portal.choices import Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import BOOT_TIMEOUT, POOL, SECOND_URI, URI, Guests

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def guest_run(vm: VirtualMachine, command: str, *, uri: str = URI, timeout: float = 60.0) -> str:
    """Run a shell command on the guest's serial console; return what it printed.

    The line is sent again every few seconds until the shell answers (a guest still booting
    does not read its console yet).
    """
    chunks: list[bytes] = []
    got = threading.Event()

    def on_data(data: bytes | None) -> None:
        if data:
            chunks.append(data)
            got.set()

    console = SerialConsole(uri, str(vm.uuid), on_data)
    console.open()
    try:
        # The markers are computed by the shell, so the echo of the typed line never matches.
        line = f"\necho BEGIN-$((40+2)); {command}; echo END-$((40+3))\n".encode()
        deadline = time.monotonic() + timeout
        resend = 0.0
        while True:
            if time.monotonic() >= resend:
                console.send(line)
                resend = time.monotonic() + 5
            text = b"".join(chunks).decode(errors="replace").replace("\r", "")
            found = re.search(r"BEGIN-42\n(.*?)END-43", text, re.S)
            if found:
                return found.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer to {command!r} within {timeout}s:\n{text[-2000:]}")
            got.wait(0.2)
            got.clear()
    finally:
        console.close()


def cgroup_dir(vm: VirtualMachine, controller: str) -> Path:
    """The guest's cgroup (v1) for `controller`, from its QEMU process."""
    pid = Path(f"/run/libvirt/qemu/{vm.domain_name}.pid").read_text().strip()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _n, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            # QEMU's own threads sit in the "emulator" child of the guest's group.
            group = Path(f"/sys/fs/cgroup/{controllers}{path}")
            return group.parent if group.name == "emulator" else group
    raise AssertionError(f"no {controller} cgroup for {vm.domain_name}")


@pytest.fixture
def alice(db: None):
    tenant = TenantFactory(slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    user = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=user, role=Role.MEMBER)
    user.environment = development
    return user


def test_limits_cap_a_busy_guest_and_show_in_cgroups_and_iotune(
    qemu_host: Host, tiny_image, guests: Guests, alice
):
    flavor = FlavorFactory(
        name="it-capped",
        vcpus=1,
        ram_mib=256,
        disk_gib=1,
        cpu_shares=512,
        cpu_cap_percent=50,
        memory_hard_limit_mib=1024,
        disk_read_iops=150,
        disk_write_bytes_sec=2 * 2**20,
    )
    vm = services.vm_request_create(
        requested_by=alice,
        environment=alice.environment,
        flavor=flavor,
        image=tiny_image,
        name="it-capped",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)

    cpu = cgroup_dir(vm, "cpu")
    assert (cpu / "cpu.shares").read_text().strip() == "512"
    assert (cpu / "vcpu0" / "cpu.cfs_period_us").read_text().strip() == "100000"
    assert (cpu / "vcpu0" / "cpu.cfs_quota_us").read_text().strip() == "50000"
    memory = cgroup_dir(vm, "memory")
    assert int((memory / "memory.limit_in_bytes").read_text()) == 1024 * 2**20

    iotune = guests.virsh("blkdeviotune", vm.domain_name, "vda").stdout
    tune = dict(re.findall(r"^\s*(\w+)\s*:\s*(\d+)", iotune, re.M))
    assert tune["read_iops_sec"] == "150", iotune
    assert tune["write_bytes_sec"] == str(2 * 2**20), iotune

    guest_run(vm, "(while :; do :; done) & echo busy")
    conn = libvirt.open(URI)
    try:
        dom = conn.lookupByUUIDString(str(vm.uuid))
        time.sleep(1)  # let the loop take the vCPU
        before, t0 = dom.getCPUStats(True)[0]["cpu_time"], time.monotonic()
        time.sleep(5)
        after, t1 = dom.getCPUStats(True)[0]["cpu_time"], time.monotonic()
    finally:
        conn.close()
    used = (after - before) / 1e9 / (t1 - t0)
    print(f"busy guest under a 50% cap used {used:.1%} of a CPU over {t1 - t0:.1f} s")
    assert used <= 0.55
    assert used >= 0.15, "the busy loop did not run"


def test_resized_stopped_guest_sees_more_vcpus_and_memory(
    qemu_host: Host, tiny_image, guests: Guests, alice
):
    small = FlavorFactory(name="it-small", vcpus=1, ram_mib=256, disk_gib=1)
    large = FlavorFactory(name="it-large", vcpus=2, ram_mib=384, disk_gib=2, cpu_cap_percent=80)
    vm = services.vm_request_create(
        requested_by=alice,
        environment=alice.environment,
        flavor=small,
        image=tiny_image,
        name="it-grow",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    before = guest_run(vm, "nproc; grep MemTotal /proc/meminfo")
    cpus_before, mem_before = _cpus_and_memory(before)
    assert cpus_before == 1

    services.vm_action(vm=vm, action="stop", requested_by=alice)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    services.vm_resize(vm=vm, flavor=large, requested_by=alice)
    vm.refresh_from_db()
    op = vm.operations.filter(kind=OperationKind.RESIZE).get()
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    assert (vm.state, vm.flavor) == (VMState.STOPPED, large)
    info = guests.dominfo(vm.domain_name)
    assert info["CPU(s)"] == "2"
    assert info["Max memory"] == f"{384 * 1024} KiB"
    vol = guests.virsh("vol-info", "--pool", POOL, vm.volume_name, "--bytes").stdout
    assert re.search(rf"Capacity:\s+{2 * 2**30} bytes", vol), vol

    services.vm_action(vm=vm, action="start", requested_by=alice)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    after = guest_run(vm, "nproc; grep MemTotal /proc/meminfo")
    cpus_after, mem_after = _cpus_and_memory(after)
    print(
        f"guest before: {cpus_before} CPU {mem_before} kB; after: {cpus_after} CPU {mem_after} kB"
    )
    assert cpus_after == 2
    assert mem_after - mem_before >= 100 * 1024  # 128 MiB more, less what the kernel keeps
    cpu = cgroup_dir(vm, "cpu")
    assert (cpu / "vcpu1" / "cpu.cfs_quota_us").read_text().strip() == "80000"


def _cpus_and_memory(text: str) -> tuple[int, int]:
    cpus = re.search(r"^(\d+)\s*$", text, re.M)
    mem = re.search(r"MemTotal:\s+(\d+) kB", text)
    assert cpus and mem, text
    return int(cpus.group(1)), int(mem.group(1))


def test_a_guest_whose_host_is_too_full_moves_stopped_and_boots_resized_there(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests, alice
):
    first, second = qemu_host, second_qemu_host
    small = FlavorFactory(name="it-small", vcpus=1, ram_mib=256, disk_gib=1)
    large = FlavorFactory(
        name="it-large", vcpus=2, ram_mib=384, disk_gib=2, memory_hard_limit_mib=512
    )
    Host.objects.filter(pk=second.pk).update(enabled=False)  # boot on the first host
    vm = services.vm_request_create(
        requested_by=alice,
        environment=alice.environment,
        flavor=small,
        image=tiny_image,
        name="it-move",
    )
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, first), vm.error_message
    guests.wait_booted(vm.domain_name)
    services.vm_action(vm=vm, action="stop", requested_by=alice)
    # The first host has no room left for the larger size; the second one has.
    Host.objects.filter(pk=second.pk).update(enabled=True)
    Host.objects.filter(pk=first.pk).update(ram_ratio=Decimal("0.01"))

    services.vm_resize(vm=vm, flavor=large, requested_by=alice)
    vm.refresh_from_db()
    op = vm.operations.filter(kind=OperationKind.RESIZE_MOVE).get()
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    print("; ".join(f"{s.name}: {s.detail}" for s in op.steps.all()))
    assert (vm.state, vm.flavor, vm.host) == (VMState.STOPPED, large, second)
    assert guests.virsh("domstate", vm.domain_name, check=False).returncode != 0  # gone here
    out = subprocess.run(
        ["virsh", "-c", SECOND_URI, "-q", "dominfo", vm.domain_name],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert re.search(r"CPU\(s\):\s+2$", out, re.M), out
    assert re.search(r"State:\s+shut off$", out, re.M), out

    services.vm_action(vm=vm, action="start", requested_by=alice)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message
    # Started on its new host, it has the new flavor's memory hard limit there.
    assert hypervisor.memory_hard_limit_mib(second.uri, str(vm.uuid)) == 512
    answer = guest_run(
        vm, "nproc; grep MemTotal /proc/meminfo", uri=SECOND_URI, timeout=BOOT_TIMEOUT
    )
    cpus, _memory = _cpus_and_memory(answer)
    assert cpus == 2
