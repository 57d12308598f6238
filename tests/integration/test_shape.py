"""A VM's shape on real QEMU guests: flavor limits enforced by cgroups and QEMU, and resize.

Tasks run eagerly in this process (tests.settings): each service call returns once its
operation has finished. The guest is read through its serial console (the tiny guest runs a
shell there after its marker).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import libvirt
import pytest

from compute import services
from compute.choices import VMState
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
from tests.integration.conftest import URI, Guests

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def guest_run(vm: VirtualMachine, command: str, *, timeout: float = 60.0) -> str:
    """Run a shell command on the guest's serial console; return what it printed."""
    chunks: list[bytes] = []
    got = threading.Event()

    def on_data(data: bytes | None) -> None:
        if data:
            chunks.append(data)
            got.set()

    console = SerialConsole(URI, str(vm.uuid), on_data)
    console.open()
    try:
        # The markers are computed by the shell, so the echo of the typed line never matches.
        console.send(f"\necho BEGIN-$((40+2)); {command}; echo END-$((40+3))\n".encode())
        deadline = time.monotonic() + timeout
        while True:
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
