"""Snapshots of running QEMU guests: take and revert through Nuage, against plain libvirt.

Run: .venv/bin/python bench/snapshots.py [--rounds-1 16] [--rounds-4 8]   (as root)

Nuage: alice asks through the REST API (token auth, DRF views) for a live snapshot with memory
(POST /api/v1/vms/{id}/snapshots/), then for a revert to it (POST .../{sid}/revert/); a Celery
worker process (prefork x4) on Redis runs the operation (one step) against qemu:///system, on a
scratch PostgreSQL database. A sample lasts from the request to the instant the worker recorded
the operation finished (its `finished_at`). The requests are served by 4 web processes, one
request at a time each (the image runs 3 gunicorn worker processes of 4 threads; gunicorn
advises 2 x cores + 1 processes): requests at once are served at once, on both cores, as the
deployment's processes serve them. Threads of this one process, as before, served them one
after the other under its interpreter lock (p50 42-55 ms a request with 4 at once, 14-16
alone), which the deployment's several processes do not.
Baseline: the same libvirt calls from this script, for the same result: the domain looked up,
its disks' stats before and after snapshotCreateXML with the same snapshot XML (Nuage bills
the snapshot's size on the host, the growth of the disk files: the same helper, the same
calls), then snapshotLookupByName and revertToSnapshot; one thread and connection per guest,
timed around the calls.

The plain side's shape (threads of one process, a connection each opened before the timed
calls) was compared with 4 processes that each keep a connection (as the worker's processes
do), and with Nuage's own hypervisor functions called from 4 processes and from 4 threads, on
4 tiny guests at once, 3 rounds each, alternating (22:46 UTC, load ~2.5): create p50 0.265 /
0.215 / 0.214 / 0.240 s, revert 2.50 / 3.17 / 2.17 / 2.64 s. No shape is faster: the spread is
round to round, so the baseline keeps its shape.

Both work on the same booted tiny guests (N = 1 and 4 at once, one snapshot each); rounds
alternate which goes first. Unmeasured warm-up rounds of each come first, one of 1 guest and
one of 4: every worker process and every web process has served a snapshot (its connections
to libvirt and PostgreSQL open, its statements prepared) before any is timed. A round during
which other processes used more than --max-other-load cores is run again. Rounds of 4 are 8 by
default (3, then 6 before): the 4 samples of a round are not independent (the 4 reverts each
restart their guest's QEMU, at the same time), and libvirt's own revert time varies by a third
from one round to the next, so 3 rounds let one round decide the median. Rounds of 1 are 16
(6 before): a snapshot of the same guest took 0.125-0.19 s with plain libvirt calls from one
round to the next (2026-12-07, quiet machine), so the median of 6 moved by a tenth from one run
to the next, as much as Nuage's own time (about 12 ms to the step's start, measured on
libvirt's test driver). Goal: p50 ratio Nuage / libvirt <= 1.2 for both.

Beside the samples: Nuage's time per phase (request, queue, libvirt step, recording), and the
CPU each part of the machine's work used while the snapshots were taken (web processes, worker,
the scratch database's PostgreSQL backends, this script, libvirtd, the guests' QEMU), per
snapshot, for both stacks: on 2 cores, 4 snapshots at once keep the cores busy, and what
Nuage's own processes use is time the guests' calls wait.

Needs: root, scripts/libvirt-up.sh (run here), PostgreSQL (scratch database
nuage_bench_snapshots, dropped and recreated on each run) and Redis (a private queue, deleted
at the end). Every domain, volume and log it makes is removed at the end, and leftovers of a
crashed run at the start. It connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
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
from bench.provision import LOG_DIR, CpuWatch, machine, purge, wait_markers  # noqa: E402
from compute.hypervisor.snapshots import disk_usage, snapshot_xml  # noqa: E402
from compute.tinyguest import build_tiny_guest  # noqa: E402

DB_NAME = "nuage_bench_snapshots"
URI = "qemu:///system"
POOL = "nuage"
GUEST_DIR = Path("/var/lib/libvirt/nuage-images/tiny")
# VMs named "snapbench-…": domains "nuage-<8 hex>-snapbench-…". Only those are ever removed.
PREFIX = "snapbench"
VCPUS, RAM_MIB, DISK_GIB = 1, 256, 1
HEADING = "## Snapshots of running guests (bench/snapshots.py)"
GOAL = 1.2
KINDS = ("create", "revert")
# Request → operation row committed → step started by the worker → step done → operation ended.
PHASES = ("API request", "queue to worker", "step (libvirt)", "recorded done")
# Web processes serving the API requests (one request at a time each).
WEB_PROCESSES = 4


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds-1", type=int, default=16, help="rounds of 1 guest (default 16)")
    p.add_argument("--rounds-4", type=int, default=8, help="rounds of 4 guests (default 8)")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for a boot")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="run a round again if other processes used more cores than this (default 0.25)",
    )
    p.add_argument(
        "--retry-budget",
        type=float,
        default=240,
        help="seconds after which disturbed rounds are kept rather than run again",
    )
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL (env NUAGE_BENCH_PG)")
    p.add_argument("--broker", default=DEFAULT_BROKER, help="Redis URL (env NUAGE_BENCH_BROKER)")
    return p.parse_args()


def _ours(name: str) -> bool:
    parts = name.split("-", 2)
    return len(parts) == 3 and parts[0] == "nuage" and parts[2].startswith(f"{PREFIX}-")


# Per guest and kind (create, revert): seconds.
Round = dict[str, list[float]]


# --- the web processes: each serves one request at a time ------------------------------------

_web_client = None


def _web_init(token: str) -> None:
    """A web process: Django set up, alice's API client, one request served (warm)."""
    global _web_client
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    resp = client.get("/api/v1/vms/")
    assert resp.status_code == 200, resp.content
    _web_client = client


def _web_pid(seconds: float) -> int:
    time.sleep(seconds)  # held for a while, so that each process takes one of these at once
    return os.getpid()


def _web_post(call: tuple[str, str]) -> tuple[float, int]:
    """Serve one request: (time.time() when it began, the operation's snapshot id)."""
    assert _web_client is not None
    method, url = call
    wall = time.time()
    if method == "post-create":
        resp = _web_client.post(url, {"name": f"s-{uuid.uuid4().hex[:8]}"}, format="json")
    else:
        resp = _web_client.post(url)
    assert resp.status_code == 202, resp.content
    return wall, int(resp.json()["id"])


class CpuTally:
    """CPU seconds each part of the machine's work used while snapshots were taken (from the
    round's first create sent to the last one done), per stack and N: where the cores went."""

    GROUPS = ("web", "worker", "PostgreSQL", "bench", "libvirtd", "QEMU")
    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.worker_pgid: int | None = None
        self.web_pids: set[int] = set()
        self.totals: dict[tuple[str, int], dict[str, float]] = {}
        self.snapshots: dict[tuple[str, int], int] = {}
        self._at: dict[int, tuple[str, float]] = {}

    def _sample(self, domains: list[str]) -> dict[int, tuple[str, float]]:
        qemu = set()
        for domain in domains:
            try:
                qemu.add(int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text()))
            except (OSError, ValueError):
                pass
        try:
            libvirtd = int(Path("/run/libvirtd.pid").read_text())
        except (OSError, ValueError):
            libvirtd = -1
        found: dict[int, tuple[str, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if pid in self.web_pids:
                    group = "web"
                elif self.worker_pgid is not None and int(stat[2]) == self.worker_pgid:
                    group = "worker"
                elif pid == os.getpid():
                    group = "bench"
                elif pid == libvirtd:
                    group = "libvirtd"
                elif pid in qemu:
                    group = "QEMU"
                elif DB_NAME.encode() in (entry / "cmdline").read_bytes():
                    group = "PostgreSQL"  # the backends serving the scratch database
                else:
                    continue
            except (OSError, IndexError):
                continue
            found[pid] = (group, (int(stat[11]) + int(stat[12])) / self.HZ)
        return found

    def start(self, domains: list[str]) -> None:
        self._at = self._sample(domains)

    def stop(self, stack: str, domains: list[str]) -> None:
        key = (stack, len(domains))
        totals = self.totals.setdefault(key, dict.fromkeys(self.GROUPS, 0.0))
        for pid, (group, cpu) in self._sample(domains).items():
            totals[group] += cpu - self._at.get(pid, (group, 0.0))[1]
        self.snapshots[key] = self.snapshots.get(key, 0) + len(domains)

    def reset(self) -> None:
        self.totals.clear()
        self.snapshots.clear()

    def table(self) -> list[str]:
        lines = [
            "| CPU ms per snapshot taken | N | " + " | ".join(self.GROUPS) + " | all |",
            "|---|---:|" + "---:|" * (len(self.GROUPS) + 1),
        ]
        for (stack, n), totals in sorted(self.totals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            count = self.snapshots[(stack, n)]
            cells = [f"{1000 * totals[g] / count:.0f}" for g in self.GROUPS]
            cells.append(f"{1000 * sum(totals.values()) / count:.0f}")
            label = "Nuage" if stack == "nuage" else "plain libvirt"
            lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
        return lines


class Nuage:
    """alice's VMs, booted once through Nuage; snapshots taken and reverted through the API."""

    def __init__(self, image_paths: tuple[str, str]) -> None:
        from portal.choices import Role

        world = BenchTenant(approval=False, users={"alice": Role.MEMBER})
        self.environment = world.environment
        self.flavor, self.image = tiny_guest_rows(
            image_paths, vcpus=VCPUS, ram_mib=RAM_MIB, disk_gib=DISK_GIB
        )
        local_host(name="local", uri=URI, pool=POOL)
        self.token = world.api_token("alice")
        self._local = threading.local()
        self._web = ProcessPoolExecutor(
            max_workers=WEB_PROCESSES,
            mp_context=multiprocessing.get_context("spawn"),  # nothing of this process shared
            initializer=_web_init,
            initargs=(self.token,),
        )
        self.web_pids: set[int] = set()
        for _try in range(10):  # every process started and warm
            self.web_pids |= set(self._web.map(_web_pid, [0.5] * WEB_PROCESSES))
            if len(self.web_pids) == WEB_PROCESSES:
                break
        # (kind, phase) -> seconds, for every measured operation.
        self.phases: dict[tuple[str, int, str], list[float]] = {}
        self.tally: CpuTally | None = None

    def close(self) -> None:
        self._web.shutdown()

    @property
    def client(self):  # type: ignore[no-untyped-def]
        """This process's API client, for what is not timed (boots, deletions)."""
        from rest_framework.test import APIClient

        client = getattr(self._local, "client", None)
        if client is None:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
            self._local.client = client
        return client

    def boot(self, names: list[str], marker: str, timeout: float) -> list[dict[str, object]]:
        from compute.models import VirtualMachine

        vms = []
        for name in names:
            resp = self.client.post(
                "/api/v1/vms/",
                {
                    "name": name,
                    "environment": self.environment.pk,
                    "flavor": self.flavor.pk,
                    "image": self.image.pk,
                },
                format="json",
            )
            assert resp.status_code == 201, resp.content
            vms.append(resp.json())
        wait_markers([vm["domain_name"] for vm in vms], marker, timeout)
        wait_until(
            lambda: (
                VirtualMachine.objects.filter(
                    pk__in=[vm["id"] for vm in vms], state="running"
                ).count()
                == len(vms)
            ),
            timeout=timeout,
            what="the VMs to be running",
        )
        return vms

    def _until_done(self, snapshot_ids: list[int], kind: str, timeout: float = 120) -> None:
        from compute.models import Operation

        wait_until(
            lambda: (
                Operation.objects.filter(
                    snapshot_id__in=snapshot_ids, kind=kind, status__in=["succeeded", "failed"]
                ).count()
                == len(snapshot_ids)
            ),
            timeout=timeout,
            what=f"{kind} to finish",
            # A sample ends at the finished_at the worker wrote, not when this sees it: no need
            # to ask PostgreSQL often on the cores the guests' calls are using (at 0.1 s, one or
            # two of this process's queries ran during each snapshot Nuage took, and none
            # during the plain calls).
            interval=0.25,
        )
        failed = Operation.objects.filter(snapshot_id__in=snapshot_ids, kind=kind, status="failed")
        if failed.exists():
            raise RuntimeError(f"{kind} failed: {list(failed.values('error_message'))}")

    def _timed(self, kind: str, calls: list[tuple[str, str]]) -> tuple[list[float], list[int]]:
        """Send the requests at once (to the web processes); seconds from each request to its
        operation's finished_at, and the snapshots' ids."""
        from compute.models import Operation

        # Long-lived web processes: each keeps its API client and database connection from
        # round to round, as gunicorn's workers do with persistent connections.
        sent = list(self._web.map(_web_post, calls))
        ids = [sid for _wall, sid in sent]
        self._until_done(ids, kind)
        ops = {
            op.snapshot_id: op
            for op in Operation.objects.filter(snapshot_id__in=ids, kind=kind).prefetch_related(
                "steps"
            )
        }
        for wall, sid in sent:  # where the time goes: request, queue, libvirt, recording
            op = ops[sid]
            step = op.steps.all()[0]
            marks = [wall, op.created_at.timestamp(), step.started_at.timestamp()]
            marks += [step.finished_at.timestamp(), op.finished_at.timestamp()]
            for phase, (a, b) in zip(PHASES, itertools.pairwise(marks), strict=True):
                self.phases.setdefault((kind, len(calls), phase), []).append(b - a)
        return [ops[sid].finished_at.timestamp() - wall for wall, sid in sent], ids

    def round(self, vms: list[dict[str, object]]) -> Round:
        domains = [str(vm["domain_name"]) for vm in vms]
        if self.tally is not None:
            self.tally.start(domains)
        create, ids = self._timed(
            "snapshot_create",
            [("post-create", f"/api/v1/vms/{vm['id']}/snapshots/") for vm in vms],
        )
        if self.tally is not None:
            self.tally.stop("nuage", domains)
        revert, _ids = self._timed(
            "snapshot_revert",
            [
                ("post", f"/api/v1/vms/{vm['id']}/snapshots/{sid}/revert/")
                for vm, sid in zip(vms, ids, strict=True)
            ],
        )
        for vm, sid in zip(vms, ids, strict=True):  # not timed: room for the next round
            resp = self.client.delete(f"/api/v1/vms/{vm['id']}/snapshots/{sid}/")
            assert resp.status_code == 202, resp.content
        self._until_done(ids, "snapshot_delete")
        return {"create": create, "revert": revert}


class PlainLibvirt:
    """The same snapshot calls on the same guests, straight from this script."""

    tally: CpuTally | None = None

    def round(self, domains: list[str]) -> Round:
        # Creations at once, then reverts at once, as Nuage's round does.
        tally = self.tally
        all_taken = threading.Barrier(
            len(domains), action=(lambda: tally.stop("libvirt", domains)) if tally else None
        )

        def one(domain: str) -> tuple[float, float]:
            conn = libvirt.open(URI)
            try:
                name = f"raw-{uuid.uuid4().hex[:8]}"
                t0 = time.monotonic()
                dom = conn.lookupByName(domain)
                # The size on the host, as Nuage measures it: the disks' growth (one stats call
                # before, one after).
                _running, before = disk_usage(conn, dom)
                snap = dom.snapshotCreateXML(snapshot_xml(name, with_memory=True), 0)
                _running, after = disk_usage(conn, dom)
                _size = max(0, after - before)
                t1 = time.monotonic()
                all_taken.wait()
                t1r = time.monotonic()
                dom = conn.lookupByName(domain)
                dom.revertToSnapshot(
                    dom.snapshotLookupByName(name, 0), libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE
                )
                t2 = time.monotonic()
                snap.delete(0)  # not timed
                return t1 - t0, t2 - t1r
            finally:
                conn.close()

        if tally is not None:
            tally.start(domains)
        with ThreadPoolExecutor(max_workers=len(domains)) as pool:
            results = list(pool.map(one, domains))
        return {"create": [c for c, _r in results], "revert": [r for _c, r in results]}


def table(results: dict[tuple[str, str, int], list[float]]) -> tuple[list[str], dict[str, float]]:
    lines = [
        "| guests at once | call | Nuage p50 s | libvirt p50 s | Nuage p95 s | libvirt p95 s "
        "| **ratio p50** | ratio p95 | samples |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[str, float] = {}
    for n in sorted({n for _s, _k, n in results}):
        for kind in KINDS:
            nu, lv = results.get(("nuage", kind, n), []), results.get(("libvirt", kind, n), [])
            if not nu or not lv:
                continue
            r50 = percentile(nu, 0.5) / percentile(lv, 0.5)
            r95 = percentile(nu, 0.95) / percentile(lv, 0.95)
            ratios[f"{kind} N={n}"] = r50
            lines.append(
                f"| {n} | {kind} | {percentile(nu, 0.5):.3f} | {percentile(lv, 0.5):.3f} | "
                f"{percentile(nu, 0.95):.3f} | {percentile(lv, 0.95):.3f} | **{r50:.2f}** | "
                f"{r95:.2f} | {len(nu)} / {len(lv)} |"
            )
    return lines, ratios


def phase_table(
    phases: dict[tuple[str, int, str], list[float]],
    results: dict[tuple[str, str, int], list[float]],
) -> list[str]:
    """Nuage's time per phase (p50 per N, all rounds; N = 1 includes the warm-up round), beside
    the plain libvirt calls' p50 at that N: the step's share above it is what Nuage adds there."""
    lines = [
        "| Nuage, p50 s | N | " + " | ".join(PHASES) + " | plain libvirt calls |",
        "|---|---:|" + "---:|" * (len(PHASES) + 1),
    ]
    for kind in ("snapshot_create", "snapshot_revert"):
        short = kind.replace("snapshot_", "")
        for n in sorted({n for (k, n, _p) in phases if k == kind}):
            cells = [f"{percentile(phases.get((kind, n, p), [0.0]), 0.5):.3f}" for p in PHASES]
            plain = results.get(("libvirt", short, n), [])
            cells.append(f"{percentile(plain, 0.5):.3f}" if plain else "–")
            lines.append(f"| {short} | {n} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench/snapshots.py boots QEMU guests on qemu:///system: run it as root.")
        return 2
    warnings.filterwarnings("ignore", message="No directory at")
    t_run = time.monotonic()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="nuage-bench-snap-"))
    queue = f"nuage-bench-snap-{uuid.uuid4().hex[:8]}"
    env = stack_env(pg=args.pg, db_name=DB_NAME, broker=args.broker, queue=queue, var_dir=tmp)
    env["NUAGE_SERIAL_LOG_DIR"] = str(LOG_DIR)
    print("==> libvirtd, pool and tiny guest")
    subprocess.run([str(REPO / "scripts" / "libvirt-up.sh")], check=True, stdout=subprocess.DEVNULL)
    guest = build_tiny_guest(GUEST_DIR)
    paths = (str(guest.kernel), str(guest.initrd))
    conn = libvirt.open(URI)
    left = purge(conn, _ours)
    if left:
        print(f"    removed {left} leftovers of an earlier run")

    print(f"==> scratch database {DB_NAME}, queue {queue}")
    recreate_database(args.pg, DB_NAME)
    results: dict[tuple[str, str, int], list[float]] = {}
    phases: dict[tuple[str, int, str], list[float]] = {}
    cpu_rows: list[str] = []
    stats = {"rerun": 0, "kept_disturbed": 0}
    # Per kept round: cores other processes used, and the 1-minute load average at its end.
    others: list[float] = []
    loads: list[float] = []
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
        from django.conf import settings
        from django.db import connections

        from portal.celery import app as celery_app

        assert float(settings.NUAGE["STEP_DELAY_SECONDS"]) == 0, "STEP_DELAY_SECONDS must be 0"
        try:
            nuage = Nuage(paths)
            plain = PlainLibvirt()
            watch = CpuWatch()
            with celery_worker(
                env, queue=queue, pool="prefork", concurrency=4, log=tmp / "worker.log"
            ) as worker_pid:
                watch.worker_pgid = worker_pid
                print("==> 4 guests booted through Nuage (not measured)")
                vms = nuage.boot([f"{PREFIX}-{i}" for i in range(4)], guest.marker, args.timeout)
                domains = [str(vm["domain_name"]) for vm in vms]
                watch.pids = nuage.web_pids
                tally = CpuTally()
                tally.worker_pgid, tally.web_pids = worker_pid, nuage.web_pids
                nuage.tally = plain.tally = tally
                print("==> warm-up (not measured): 1 guest, then 4 (every worker process)")
                nuage.round(vms[:1])
                plain.round(domains[:1])
                nuage.round(vms)
                plain.round(domains)
                tally.reset()  # the warm-up's CPU is not counted
                retry_until = time.monotonic() + args.retry_budget
                for n, rounds in ((1, args.rounds_1), (4, args.rounds_4)):
                    for r in range(rounds):
                        order: list[tuple[str, Callable[[], Round]]] = [
                            ("nuage", lambda n=n: nuage.round(vms[:n])),  # type: ignore[misc]
                            ("libvirt", lambda n=n: plain.round(domains[:n])),  # type: ignore[misc]
                        ]
                        for stack, run in order[:: 1 if r % 2 == 0 else -1]:
                            for _attempt in itertools.count():
                                watch.start()
                                got = run()
                                watch.stop(domains[:n])
                                print(
                                    f"    N={n} round {r + 1}/{rounds} {stack:<7} "
                                    + " ".join(
                                        f"{kind} {' '.join(f'{s:.3f}' for s in got[kind])}"
                                        for kind in KINDS
                                    )
                                    + f"; others used {watch.other:.2f} cores",
                                    flush=True,
                                )
                                if watch.other <= args.max_other_load:
                                    others.append(watch.other)
                                    loads.append(os.getloadavg()[0])
                                    break
                                if time.monotonic() > retry_until:
                                    stats["kept_disturbed"] += 1
                                    others.append(watch.other)
                                    loads.append(os.getloadavg()[0])
                                    break
                                stats["rerun"] += 1
                                print("      disturbed by other load: run again", flush=True)
                            for kind in KINDS:
                                results.setdefault((stack, kind, n), []).extend(got[kind])
            phases = nuage.phases
            cpu_rows = tally.table()
            nuage.close()
        except BaseException:
            print_worker_log_tail(tmp)
            raise
        finally:
            delete_private_queue(celery_app, queue)
            connections.close_all()
    finally:
        purge(conn, _ours)
        conn.close()
        drop_database(args.pg, DB_NAME)
        for path in sorted(tmp.glob("*")):
            path.unlink()
        tmp.rmdir()

    when = datetime.now().astimezone()
    rows, ratios = table(results)
    elapsed = time.monotonic() - t_run
    print()
    print(f"Live snapshot with memory and revert, {when:%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print("\n".join(rows))
    breakdown = phase_table(phases, results)
    print("\n".join(breakdown))
    print("\n".join(cpu_rows))
    worst = max(ratios.values()) if ratios else float("nan")
    load = Load(
        before=load_before,
        rounds=(min(loads), percentile(loads, 0.5), max(loads)) if loads else (0.0, 0.0, 0.0),
        others=percentile(others, 0.5) if others else 0.0,
    )
    print(
        f"goal: ratio p50 <= {GOAL} (worst {worst:.2f}); load average before the run "
        f"{load_before:.2f}, at the end of the kept rounds {load.rounds[0]:.2f}-"
        f"{load.rounds[2]:.2f} (median {load.rounds[1]:.2f}); other processes used "
        f"{load.others:.2f} cores (median of the kept rounds); run took {elapsed:.0f} s; "
        f"{stats['rerun']} rounds run again, {stats['kept_disturbed']} disturbed rounds kept"
    )
    if not args.no_doc:
        write_doc(HEADING, section(when, [*rows, "", *breakdown, "", *cpu_rows], args, load, stats))
        print(f"(written to {DOC.relative_to(REPO)})")
    return 0


@dataclass(frozen=True)
class Load:
    before: float  # 1-minute load average before the run
    rounds: tuple[float, float, float]  # at the end of the kept rounds: min, median, max
    others: float  # cores other processes used during a kept round (median)


def section(
    when: datetime, rows: list[str], args: argparse.Namespace, load: Load, stats: dict[str, int]
) -> list[str]:
    low, median, high = load.rounds
    return [
        HEADING,
        "",
        f"Measured {when:%Y-%m-%d %H:%M %Z} on {machine()}; load average {load.before:.2f} "
        f"before the run, {low:.2f}–{high:.2f} (median {median:.2f}) at the end of the kept "
        f"rounds, during which other processes used {load.others:.2f} cores (median).",
        "",
        "A live internal snapshot with memory of a running tiny guest "
        f"({VCPUS} vCPU, {RAM_MIB} MiB, qcow2 disk), then a revert to it. *Nuage*: alice asks "
        f"through the REST API (token auth, DRF views in {WEB_PROCESSES} web processes serving "
        "a request at a time each, as gunicorn's worker processes); the Celery worker "
        "(prefork ×4, Redis) runs the one-step operation against qemu:///system and ends it in "
        "the same task; a sample is from the request to the operation's `finished_at`. *Plain "
        "libvirt*: the same calls for the same result from the script (the domain looked up, "
        "its disks' stats before and after snapshotCreateXML with the same XML, since the "
        "size on the host is billed; snapshotLookupByName and revertToSnapshot), one thread "
        "and connection per guest. N guests at once on the same booted guests; "
        f"{args.rounds_1} rounds of 1 and {args.rounds_4} of 4 per stack, alternating, after "
        "warm-up rounds of 1 and of 4 (every worker and web process warm). A round during "
        "which other processes used more than "
        f"{args.max_other_load} cores is run again: {stats['rerun']} were, and "
        f"{stats['kept_disturbed']} disturbed rounds were kept. Goal: ratio p50 ≤ {GOAL}.",
        "",
        *rows,
        "",
        "Reproduce: `make bench` or `.venv/bin/python bench/snapshots.py` as root.",
    ]


if __name__ == "__main__":
    sys.exit(main())
