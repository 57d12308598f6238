"""Real system containers on lxc:///: the limits their flavor sets hold, and nothing is left."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import libvirt
import pytest

from compute import hypervisor
from compute.hypervisor.xml import ContainerSpec, ResourceLimits
from tests.integration.conftest import LXC_URI
from tests.integration.lxc_support import ContainerShell, cgroup_dir, cpu_time_ns

pytestmark = [pytest.mark.integration]


def _container(tmp_path: Path, rootfs: Path, *, cap: int, memory_mib: int) -> ContainerSpec:
    ident = uuid.uuid4()
    dest = tmp_path / "rootfs"
    assert hypervisor.rootfs_prepare(source=str(rootfs), dest=str(dest))
    return ContainerSpec(
        name=f"nuage-{ident.hex[:8]}-it-lxc-raw",
        uuid=str(ident),
        title="it/lxc-raw",
        vcpus=1,
        memory_mib=memory_mib,
        rootfs=str(dest),
        limits=ResourceLimits(cpu_cap_percent=cap),
    )


def test_container_is_held_to_its_cpu_cap_and_memory_limit_and_leaves_nothing(
    lxc_rootfs: Path, tmp_path: Path
):
    # A cap low enough to bite even on a busy 2-core machine, where an uncapped loop gets
    # only part of a CPU.
    spec = _container(tmp_path, lxc_rootfs, cap=20, memory_mib=64)
    try:
        assert hypervisor.ensure_container_defined(LXC_URI, spec)
        hypervisor.ensure_domain_running(LXC_URI, spec.uuid)
        assert hypervisor.domain_runtime_state(LXC_URI, spec.uuid) == "running"
        cpu = cgroup_dir("cpu", spec.name)
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "20000"
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        memory = cgroup_dir("memory", spec.name)
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 * 2**20

        shell = ContainerShell(LXC_URI, spec.uuid)
        try:
            shell.wait_for("NUAGE-CONTAINER-READY")
            # A busy loop inside: it gets a fifth of a CPU, however long it spins.
            shell.run("(while :; do :; done) & echo $! > /tmp/busy")
            time.sleep(0.5)
            before, t0 = cpu_time_ns(LXC_URI, spec.uuid), time.monotonic()
            time.sleep(3.0)
            used = (cpu_time_ns(LXC_URI, spec.uuid) - before) / 1e9
            wall = time.monotonic() - t0
            throttled = int(
                dict(line.split() for line in (cpu / "cpu.stat").read_text().splitlines())[
                    "nr_throttled"
                ]
            )
            # The cap is 20 % of one CPU; one 100 ms period of slack for the reads' timing.
            assert used <= 0.2 * wall + 0.1, f"{used:.2f} s of CPU in {wall:.2f} s"
            assert throttled > 0
            shell.run("kill $(cat /tmp/busy)")

            # Allocating 120 MB in a 64 MiB container: the kernel kills that process (SIGKILL,
            # exit 137), inside the container; the container and the host go on.
            out = shell.run(
                "sh -c 'x=$(head -c 120000000 /dev/zero | tr \"\\\\0\" x); echo kept ${#x}'; "
                'echo "exit=$?"',
                timeout=60,
            )
            assert "exit=137" in out, out
            assert "kept" not in out.replace("echo kept", "")
            oom = dict(
                line.split() for line in (memory / "memory.oom_control").read_text().splitlines()
            )
            assert int(oom["oom_kill"]) >= 1, oom
            assert "alive" in shell.run("echo al''ive")
        finally:
            shell.close()
        assert hypervisor.domain_runtime_state(LXC_URI, spec.uuid) == "running"
        hypervisor.host_alive(LXC_URI)

        # A stop sends SIGTERM to the container's init, which ends at once.
        assert hypervisor.ensure_domain_stopped(LXC_URI, spec.uuid, grace_seconds=10, signal=True)
        assert hypervisor.domain_runtime_state(LXC_URI, spec.uuid) == "shutoff"
    finally:
        hypervisor.remove_domain(LXC_URI, spec.uuid)
        hypervisor.rootfs_remove(spec.rootfs)
    conn = libvirt.open(LXC_URI)
    try:
        assert spec.name not in [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert not Path(spec.rootfs).exists()
