"""Real system containers on lxc:///: the limits their flavor sets hold, and nothing is left."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, cast

import libvirt
import pytest
from rest_framework.test import APIClient

from compute import hypervisor, services
from compute.choices import ImageKind, VMKind, VMState
from compute.hypervisor.xml import ContainerSpec, ResourceLimits
from compute.models import Host, VirtualMachine
from metering import sampling
from portal.choices import Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    ImageFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import LXC_URI
from tests.integration.lxc_support import ContainerShell, cgroup_dir, cpu_time_ns
from tests.support.worker import Worker, celery_worker, wait_for

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


# --- through Nuage: the API and a Celery worker ------------------------------------------------


def _login(username: str) -> APIClient:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": "pw-for-tests"}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def _wait_state(client: APIClient, vm_id: int, state: str, worker: Worker) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        data = client.get(f"/api/v1/vms/{vm_id}/").json()
        if data["state"] == VMState.ERROR:
            raise AssertionError(f"went to error: {data['error_message']}\n{worker.log()}")
        return data if data["state"] == state else None

    return cast(dict[str, Any], wait_for(shown, timeout=60, interval=0.05, what=state))


@pytest.mark.django_db(transaction=True)
def test_approved_container_runs_stops_restarts_and_delete_leaves_nothing(
    lxc_host: Host, lxc_rootfs: Path, tmp_path: Path
):
    tenant = TenantFactory(name="Apollo", slug="apollo")
    production = EnvironmentFactory(tenant=tenant, name="production", requires_approval=True)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    MembershipFactory(tenant=tenant, user=bob, role=Role.APPROVER)
    flavor = FlavorFactory(
        name="it-c-small",
        kind=VMKind.CONTAINER,
        vcpus=1,
        ram_mib=64,
        disk_gib=1,
        cpu_cap_percent=50,
    )
    image = ImageFactory(
        name="it-busybox", kind=ImageKind.ROOTFS, kernel_path="", rootfs_path=str(lxc_rootfs)
    )
    as_alice, as_bob = _login("alice"), _login("bob")

    with celery_worker(tmp_path) as worker:
        response = as_alice.post(
            "/api/v1/vms/",
            {
                "kind": "container",
                "name": "it-box",
                "environment": production.pk,
                "flavor": flavor.pk,
                "image": image.pk,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        box = response.json()
        assert (box["kind"], box["state"]) == ("container", VMState.PENDING_APPROVAL)
        box_id, domain = box["id"], box["domain_name"]

        response = as_bob.post(f"/api/v1/vms/{box_id}/approve/")
        assert response.status_code == 202, response.content
        running = _wait_state(as_alice, box_id, VMState.RUNNING, worker)
        assert running["runtime_state"] == "running"
        assert running["host"] == lxc_host.name
        vm = VirtualMachine.objects.get(pk=box_id)
        rootfs = Path(vm.rootfs_dir)
        assert (rootfs / "sbin" / "init").is_file()
        assert cgroup_dir("cpu", domain).joinpath("cpu.cfs_quota_us").read_text().strip() == "50000"

        # Its console (what the browser console streams) runs commands inside.
        shell = ContainerShell(LXC_URI, str(vm.uuid))
        try:
            shell.wait_for("NUAGE-CONTAINER-READY")
            assert "inside-42" in shell.run('echo "inside-$((6*7))"; hostname')
        finally:
            shell.close()

        # Measured use, per domain (the LXC driver has no getAllDomainStats).
        stats = {s.uuid: s for s in hypervisor.domain_stats(LXC_URI)}
        assert stats[str(vm.uuid)].cpu_time_ns > 0
        assert 0 < (stats[str(vm.uuid)].memory_rss_kib or 0) <= 64 * 1024  # its cgroup's use
        result = sampling.sample_host(host_id=lxc_host.pk)
        assert result.error == "" and result.stored >= 1, result

        response = as_alice.post(f"/api/v1/vms/{box_id}/stop/")
        assert response.status_code == 202, response.content
        stopped = _wait_state(as_alice, box_id, VMState.STOPPED, worker)
        assert stopped["runtime_state"] == "shutoff"
        # Graceful: its init took the SIGTERM; nothing was destroyed.
        assert stopped["operation"]["steps"][0]["detail"] == "Container stopped."

        for action in ("start", "reboot"):
            response = as_alice.post(f"/api/v1/vms/{box_id}/{action}/")
            assert response.status_code == 202, response.content
            assert _wait_state(as_alice, box_id, VMState.RUNNING, worker)["runtime_state"] == (
                "running"
            )

        # Its init ends (here told to from inside): the container dies; the reconciler sees it.
        shell = ContainerShell(LXC_URI, str(vm.uuid))
        try:
            shell.wait_for("NUAGE-CONTAINER-READY")
            shell.send("kill -TERM 1")
        finally:
            shell.close()
        wait_for(
            lambda: hypervisor.domain_runtime_state(LXC_URI, str(vm.uuid)) == "shutoff",
            timeout=30,
            what="the container to end",
        )
        services.reconcile()
        died = as_alice.get(f"/api/v1/vms/{box_id}/").json()
        assert (died["state"], died["runtime_state"]) == (VMState.STOPPED, "shutoff")
        assert "stopped by itself" in died["error_message"]

        response = as_alice.delete(f"/api/v1/vms/{box_id}/")
        assert response.status_code == 202, response.content
        wait_for(
            lambda: VirtualMachine.objects.filter(pk=box_id, state=VMState.DELETED).exists(),
            timeout=60,
            what="container deleted",
        )
    conn = libvirt.open(LXC_URI)
    try:
        assert not [d for d in conn.listAllDomains(0) if d.name() == domain]
    finally:
        conn.close()
    assert not rootfs.exists()
