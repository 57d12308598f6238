"""Reaching a VM through Nuage: approve -> `ssh` login answers, against approve -> guest booted.

Run: .venv/bin/python bench/reach.py [--rounds-1 4] [--rounds-4 2]   (as root)

Nuage runs as in production: bob (an approver) approves through the REST API (token auth, DRF
views in this process); a Celery worker process (prefork x4) on Redis runs the provisioning
steps against qemu:///system, on a scratch PostgreSQL database. The tenant has a `user` network
granted (a platform admin created it through the service) and alice registered an ed25519 key
pair through the API; each VM is requested with that key pair on that network, so its seed
carries the key and its NIC forwards a port of 127.0.0.1 to the guest's SSH.

For each VM, two clocks start at its approval: *booted* stops at the guest's marker line on its
serial console (what bench/provision.py measures), *ssh* when paramiko, connecting to the
`ssh -p PORT root@127.0.0.1` the API gives with alice's key, runs `hostname` and gets the VM's
name back. N VMs are approved at once (N = 1 and 4). Goal: ssh p50 / booted p50 <= 1.25.

Needs: root, scripts/libvirt-up.sh (run here), PostgreSQL (scratch database nuage_bench_reach,
dropped and recreated on each run) and Redis (a private queue, deleted at the end). Every
domain, volume and log it makes is removed at the end, and leftovers of a crashed run at the
start. It connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path

import libvirt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    DEFAULT_BROKER,
    DEFAULT_PG,
    DOC,
    BenchTenant,
    celery_worker,
    delete_private_queue,
    drop_database,
    local_host,
    percentile,
    print_worker_log_tail,
    recreate_database,
    stack_env,
    tiny_guest_rows,
    wait_until,
    write_doc,
)
from bench.provision import LOG_DIR, CpuWatch, machine, purge, serial_log  # noqa: E402
from compute.tinyguest import build_tiny_guest  # noqa: E402

DB_NAME = "nuage_bench_reach"
URI = "qemu:///system"
POOL = "nuage"
GUEST_DIR = Path("/var/lib/libvirt/nuage-images/tiny")
# VMs named "reach-…": domains "nuage-<8 hex>-reach-…". Only those are ever removed.
OURS = re.compile(r"^nuage-[0-9a-f]{8}-reach-")
VCPUS, RAM_MIB, DISK_GIB = 1, 256, 1
HEADING = "## Reaching a VM by SSH through Nuage (bench/reach.py)"
GOAL = 1.25
SSH_COMMAND = re.compile(r"ssh -p (\d+) root@127\.0\.0\.1")
# Attempts before the guest's sshd is up fail by design; paramiko logs each with a traceback.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds-1", type=int, default=4, help="rounds of 1 VM (default 4)")
    p.add_argument("--rounds-4", type=int, default=2, help="rounds of 4 VMs (default 2)")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for a login")
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL without a database")
    p.add_argument("--broker", default=DEFAULT_BROKER, help="Redis broker URL")
    return p.parse_args()


def _key_pair() -> tuple[object, str]:
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return paramiko.Ed25519Key(file_obj=io.StringIO(pem)), f"{public.decode()} alice@bench"


def ssh_hostname(port: int, key: object, patience: float = 10.0) -> str | None:
    """`hostname` over SSH as root with the key, or None while the guest does not answer."""
    import paramiko

    client = paramiko.SSHClient()
    # A fresh guest makes its host key at boot: there is nothing to pin it against.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            "127.0.0.1", port=port, username="root", pkey=key, allow_agent=False,
            look_for_keys=False, timeout=patience, banner_timeout=patience,
            auth_timeout=patience,
        )  # fmt: skip
        _in, out, _err = client.exec_command("hostname", timeout=patience)
        return out.read().decode().strip()
    except (paramiko.SSHException, OSError, EOFError):
        return None
    finally:
        client.close()


class Nuage:
    """alice requests with her key pair on the user network, bob approves; the worker boots."""

    def __init__(self, image_paths: tuple[str, str]) -> None:
        from compute import ipam
        from compute.models import NetworkGrant
        from portal.choices import PlatformRole, Role
        from portal.models import User

        world = BenchTenant(users={"alice": Role.MEMBER, "bob": Role.APPROVER})
        self.environment = world.environment
        admin = User.objects.create_user(
            "root-admin", password=world.password, platform_role=PlatformRole.ADMIN
        )
        self.network = ipam.network_create(created_by=admin, name="user", kind="user")
        NetworkGrant.objects.create(network=self.network, tenant=world.tenant)
        self.flavor, self.image = tiny_guest_rows(
            image_paths, vcpus=VCPUS, ram_mib=RAM_MIB, disk_gib=DISK_GIB
        )
        local_host(name="local", uri=URI, pool=POOL)
        self.alice, self.bob = world.api_client("alice"), world.api_client("bob")
        self.key, public = _key_pair()
        resp = self.alice.post(
            "/api/v1/keypairs/", {"name": "laptop", "public_key": public}, format="json"
        )
        assert resp.status_code == 201, resp.content
        self.key_pair_id = resp.json()["id"]

    def round(
        self, names: list[str], marker: str, timeout: float, watch: CpuWatch
    ) -> list[tuple[float, float]]:
        """(approve -> booted, approve -> ssh hostname) per VM."""
        from compute.choices import VMState
        from compute.models import VirtualMachine

        vms = []
        for name in names:  # the requests are not timed: approval is where provisioning starts
            resp = self.alice.post(
                "/api/v1/vms/",
                {
                    "name": name,
                    "environment": self.environment.pk,
                    "flavor": self.flavor.pk,
                    "image": self.image.pk,
                    "network": self.network.pk,
                    "key_pairs": [self.key_pair_id],
                },
                format="json",
            )
            assert resp.status_code == 201, resp.content
            vms.append(resp.json())
        started: dict[str, float] = {}
        booted: dict[str, float] = {}
        logged_in: dict[str, float] = {}
        errors: list[str] = []

        def watch_boot(vm: dict[str, object]) -> None:
            domain = str(vm["domain_name"])
            while time.monotonic() < started[domain] + timeout:
                try:
                    if marker.encode() in serial_log(domain).read_bytes():
                        booted[domain] = time.monotonic()
                        return
                except FileNotFoundError:
                    pass
                time.sleep(0.02)
            errors.append(f"{vm['name']}: no boot marker")

        def watch_ssh(vm: dict[str, object]) -> None:
            # Its own thread: an attempt that waits on a guest not up yet delays no other clock.
            domain, name = str(vm["domain_name"]), str(vm["name"])
            found = SSH_COMMAND.fullmatch(str(vm["ssh_command"]))
            assert found, vm["ssh_command"]
            port = int(found[1])
            while time.monotonic() < started[domain] + timeout:
                # Until the guest booted, give up an attempt fast: QEMU accepts on the port at
                # once and holds the connection while nothing in the guest answers.
                patience = 15.0 if domain in booted else 2.0
                if ssh_hostname(port, self.key, patience) == name:
                    logged_in[domain] = time.monotonic()
                    return
                time.sleep(0.05)
            errors.append(f"{name}: no ssh login")

        watch.start()
        for vm in vms:
            started[str(vm["domain_name"])] = time.monotonic()
            resp = self.bob.post(f"/api/v1/vms/{vm['id']}/approve/")
            assert resp.status_code == 202, resp.content
        threads = [
            threading.Thread(target=fn, args=(vm,)) for vm in vms for fn in (watch_boot, watch_ssh)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        watch.stop(list(started))
        if errors:
            raise TimeoutError("; ".join(errors))
        ids = [vm["id"] for vm in vms]
        bad = VirtualMachine.objects.filter(pk__in=ids).exclude(state=VMState.RUNNING)
        if bad.exists():
            raise RuntimeError(f"reached but not running: {list(bad.values('name', 'state'))}")
        for vm_id in ids:
            resp = self.alice.delete(f"/api/v1/vms/{vm_id}/")
            assert resp.status_code == 202, resp.content
        wait_until(
            lambda: (
                VirtualMachine.objects.filter(pk__in=ids, state=VMState.DELETED).count() == len(ids)
            ),
            timeout=timeout,
            what="the VMs to be deleted",
        )
        for domain in started:
            for log in (serial_log(domain), LOG_DIR / f"{domain}.log"):
                log.unlink(missing_ok=True)
        return [(booted[d] - started[d], logged_in[d] - started[d]) for d in started]


def table(results: dict[int, list[tuple[float, float]]]) -> tuple[list[str], bool]:
    lines = [
        "| VMs at once | VMs | booted p50 s | ssh p50 s | booted p95 s | ssh p95 s | ratio p50 |",
        "|------------:|----:|-------------:|----------:|-------------:|----------:|----------:|",
    ]
    met = True
    for n, samples in sorted(results.items()):
        boot, ssh = [b for b, _ in samples], [s for _, s in samples]
        ratio = percentile(ssh, 0.5) / percentile(boot, 0.5)
        met = met and ratio <= GOAL
        lines.append(
            f"| {n} | {len(samples)} | {percentile(boot, 0.5):.2f} | {percentile(ssh, 0.5):.2f} | "
            f"{percentile(boot, 0.95):.2f} | {percentile(ssh, 0.95):.2f} | **{ratio:.2f}** |"
        )
    return lines, met


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench/reach.py boots QEMU guests on qemu:///system: run it as root.")
        return 2
    warnings.filterwarnings("ignore", message="No directory at")
    t_run = time.monotonic()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="nuage-bench-reach-"))
    queue = f"nuage-bench-reach-{uuid.uuid4().hex[:8]}"
    env = stack_env(pg=args.pg, db_name=DB_NAME, broker=args.broker, queue=queue, var_dir=tmp)
    env["NUAGE_SERIAL_LOG_DIR"] = str(LOG_DIR)
    first = 40000 + 100 * secrets.randbelow(200)  # forwarded ports of 127.0.0.1: a private range
    env["NUAGE_USER_NET_PORTS"] = f"{first}-{first + 99}"
    print("==> libvirtd, pool and tiny guest")
    subprocess.run([str(REPO / "scripts" / "libvirt-up.sh")], check=True, stdout=subprocess.DEVNULL)
    guest = build_tiny_guest(GUEST_DIR)
    paths = (str(guest.kernel), str(guest.initrd))
    conn = libvirt.open(URI)
    left = purge(conn, lambda name: bool(OURS.match(name)))
    if left:
        print(f"    removed {left} leftovers of an earlier run")
    print(f"==> scratch database {DB_NAME}, queue {queue}")
    recreate_database(args.pg, DB_NAME)
    results: dict[int, list[tuple[float, float]]] = {}
    others: list[float] = []  # cores other processes used during each measured round
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connections

        from portal.celery import app as celery_app

        try:
            nuage = Nuage(paths)
            watch = CpuWatch()
            with celery_worker(
                env, queue=queue, pool="prefork", concurrency=4, log=tmp / "worker.log"
            ) as worker_pid:
                watch.worker_pgid = worker_pid
                print("==> warm-up (not measured)")
                nuage.round(["reach-warmup"], guest.marker, args.timeout, watch)
                for n, rounds in ((1, args.rounds_1), (4, args.rounds_4)):
                    for r in range(rounds):
                        names = [f"reach-{n}-{r}-{i}" for i in range(n)]
                        secs = nuage.round(names, guest.marker, args.timeout, watch)
                        print(
                            f"    N={n} round {r + 1}/{rounds} "
                            + " ".join(f"booted {b:.2f} ssh {s:.2f}" for b, s in secs)
                            + f"; others used {watch.other:.2f} cores",
                            flush=True,
                        )
                        results.setdefault(n, []).extend(secs)
                        others.append(watch.other)
        except BaseException:
            print_worker_log_tail(tmp)
            raise
        finally:
            delete_private_queue(celery_app, queue)
            connections.close_all()
    finally:
        purge(conn, lambda name: bool(OURS.match(name)))
        conn.close()
        drop_database(args.pg, DB_NAME)
        for path in sorted(tmp.glob("*")):
            path.unlink()
        tmp.rmdir()

    when = datetime.now().astimezone()
    rows, met = table(results)
    print()
    print(f"Approve -> ssh login vs approve -> booted, {when:%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print("\n".join(rows))
    print(
        f"goal: ratio <= {GOAL} ({'met' if met else 'MISSED'}); load average before the run "
        f"{load_before:.2f}; run took {time.monotonic() - t_run:.0f} s"
    )
    if not args.no_doc:
        write_doc(HEADING, section(when, rows, args, load_before, others))
        print(f"(written to {DOC.relative_to(REPO)})")
    return 0


def section(
    when: datetime, rows: list[str], args: argparse.Namespace, load: float, others: list[float]
) -> list[str]:
    busy = sum(others) / max(len(others), 1)
    return [
        HEADING,
        "",
        f"Measured {when:%Y-%m-%d %H:%M %Z} on {machine()}; load average {load:.2f} before "
        f"the run; other processes on the shared machine used {busy:.2f} of its cores on "
        "average during the measured rounds, which slows every boot (the ratio compares two "
        "clocks of the same boots).",
        "",
        "Two clocks per VM, both from bob's approval through the REST API: *booted* stops at the "
        "guest's marker line on its serial console, *ssh* when paramiko logs in as root on the "
        "`ssh -p PORT root@127.0.0.1` the API gave, with the ed25519 key pair alice registered "
        "through the API, and `hostname` answers the VM's name. The VMs (tiny guest, "
        f"{VCPUS} vCPU, {RAM_MIB} MiB) are on the tenant's granted `user` network; a Celery "
        "worker (prefork ×4, Redis) provisions them on qemu:///system (TCG, no KVM) with their "
        "cloud-init seed. In the guest, the seed is applied, the NIC configured (DHCP from "
        "QEMU's user networking), dropbear makes a fresh ed25519 host key and starts, then the "
        "marker is printed: the login comes within a poll and one key exchange of the marker. "
        f"{args.rounds_1} rounds of 1 VM and {args.rounds_4} of 4 VMs at once, after one "
        f"unmeasured warm-up. Goal: ssh p50 / booted p50 <= {GOAL}.",
        "",
        *rows,
        "",
        "Reproduce: `make bench` or `.venv/bin/python bench/reach.py` as root (a few minutes; "
        "it needs PostgreSQL and Redis on loopback and cleans up what it made).",
    ]


if __name__ == "__main__":
    sys.exit(main())
