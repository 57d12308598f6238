"""What the benchmark scripts share: scratch databases, a Celery worker, waiting, percentiles and
the section of docs/benchmarks.md that each script rewrites.

The scripts run as `python bench/<name>.py`; each puts the repository on sys.path first.
"""

from __future__ import annotations

import http.client
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
INTRO = (
    "# Benchmarks\n\n"
    "Figures from the scripts in `bench/` (`make bench`); each rewrites its section.\n"
)
DEFAULT_PG = os.environ.get("NUAGE_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DEFAULT_BROKER = os.environ.get("NUAGE_BENCH_BROKER", "redis://127.0.0.1:6379/0")
# Benches measure Nuage, not its API throttles (also for those that set Django up in-process).
for _scope in ("ANON", "USER", "LOGIN"):
    os.environ.setdefault(f"NUAGE_THROTTLE_{_scope}", "1000000/minute")


def stack_env(*, pg: str, db_name: str, broker: str, queue: str, var_dir: Path) -> dict[str, str]:
    """Environment for processes running Nuage on a scratch database and a private queue."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "NUAGE_DEMO": "0",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DATABASE_URL": f"{pg}/{db_name}",
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        # Every kind of task on the bench's private queue (portal/routing.py).
        "CELERY_QUEUE_PROVISIONING": "",
        "CELERY_QUEUE_METERING": "",
        "CELERY_QUEUE_NOTIFICATIONS": "",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "NUAGE_VAR_DIR": str(var_dir),
        "NUAGE_STEP_DELAY_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        # Benches measure Nuage, not its API throttles.
        "NUAGE_THROTTLE_ANON": "1000000/minute",
        "NUAGE_THROTTLE_USER": "1000000/minute",
        "NUAGE_THROTTLE_LOGIN": "1000000/minute",
    }


def recreate_database(server: str, name: str) -> None:
    """Drop and create a scratch database `name` on `server` (a URL without a database)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_until(
    predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def celery_worker(
    env: dict[str, str], *, queue: str, pool: str, concurrency: int, log: Path
) -> Iterator[int]:
    """A worker process on the bench's private queue; yields its pid (also its process group)."""
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
        "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-{queue}@%h",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(
            lambda: b"ready." in log.read_bytes() or proc.poll() is not None,
            timeout=60,
            what="the Celery worker to start",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{log.read_text(errors='replace')[-3000:]}")
        yield proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_model() -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )


def write_doc(heading: str, section: list[str]) -> None:
    """Replace the section under `heading` in docs/benchmarks.md (or add it); keep the rest.

    `section` starts with the heading line itself.
    """
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else INTRO
    lines = text.splitlines()
    if heading in lines:
        start = lines.index(heading)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith(("# ", "## "))),
            len(lines),
        )
        lines[start:end] = [*section, ""]
    else:
        lines += ["", *section]
    DOC.write_text("\n".join(lines).rstrip("\n") + "\n")


def delete_private_queue(celery_app: object, queue: str) -> None:
    """Remove a bench's private queue and the exchange bindings kombu keeps in Redis for it."""
    with celery_app.connection_for_write() as conn:  # type: ignore[attr-defined]
        conn.default_channel.queue_delete(queue)
        conn.default_channel.client.delete(
            f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


def print_worker_log_tail(directory: Path) -> None:
    log = directory / "worker.log"
    if log.exists():
        print(f"--- worker log (tail) ---\n{log.read_text(errors='replace')[-4000:]}")


def login_verified(client: Any, user: Any) -> None:
    """client.force_login, as after the two-factor step too (finance is a platform role)."""
    from portal import twofactor

    client.force_login(user)
    session = client.session
    session[twofactor.VERIFIED] = True
    session.save()


def session_cookie(user: Any, *, verified: bool = True) -> str:
    """A `Cookie` header value for a session of `user` stored in the database (Django set up).

    `verified`: the session has passed the two-factor step, as platform roles (finance, admin)
    must before any page answers them; harmless for the others.
    """
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from portal import twofactor

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if verified:
        store[twofactor.VERIFIED] = store[twofactor.HAS_DEVICE] = True
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def use_database(name: str) -> None:
    """Point this process's default connection at another scratch database."""
    from django.db import connections

    connections.close_all()
    connections.databases["default"]["NAME"] = name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 2
) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn serving portal.wsgi on a free loopback port; returns the process and the port."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "portal.wsgi", "-b", f"127.0.0.1:{port}",
                "-w", str(workers), "--threads", str(threads), "--keep-alive", "30",
            ],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_until(up, timeout=60, what="gunicorn")
    return server, port


def load(
    port: int, path: str, headers: dict[str, str], *, requests: int, clients: int
) -> list[float]:
    """`requests` GETs spread over `clients` keep-alive connections; latencies in ms."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(n: int) -> None:
        try:
            run(n)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
            raise

    def run(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        barrier.wait()
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    share = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return latencies


def loadavg() -> str:
    """/proc/loadavg's three averages, as recorded beside every figure."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the bench tenant: alice (member) requests, bob (approver) approves --------------------


class BenchTenant:
    """Tenant "Bench" with one environment and its users, made in the scratch database.

    `users` maps a username to its role in the tenant; every user has `password`.
    """

    def __init__(
        self, *, environment: str = "production", approval: bool = True, users: dict[str, str]
    ) -> None:
        from portal.models import Environment, Membership, Tenant, User

        self.password = secrets.token_urlsafe(12)
        self.tenant = Tenant.objects.create(name="Bench", slug="bench")
        self.environment = Environment.objects.create(
            tenant=self.tenant, name=environment, requires_approval=approval
        )
        for username, role in users.items():
            user = User.objects.create_user(username, password=self.password)
            Membership.objects.create(tenant=self.tenant, user=user, role=role)

    def api_token(self, username: str) -> str:
        """`username`'s API token, obtained as a client does (POST /api/v1/auth/token/)."""
        from rest_framework.test import APIClient

        resp = APIClient().post(
            "/api/v1/auth/token/",
            {"username": username, "password": self.password},
            format="json",
        )
        assert resp.status_code == 200, resp.content
        return str(resp.json()["token"])

    def api_client(self, username: str) -> Any:
        """A DRF test client (in this process) sending `username`'s token."""
        return token_client(self.api_token(username))


def token_client(token: str) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def local_host(*, name: str, uri: str, pool: str, **fields: Any) -> Any:
    """A host row for a libvirt on this machine, refreshed; fails loudly if it does not answer."""
    from compute.models import Host
    from compute.services import host_refresh

    host = host_refresh(host=Host.objects.create(name=name, uri=uri, storage_pool=pool, **fields))
    if not host.reachable:
        raise RuntimeError(f"{uri}: {host.last_error}")
    return host


def tiny_guest_rows(
    image_paths: tuple[str, str], *, vcpus: int, ram_mib: int, disk_gib: int
) -> Any:
    """(flavor, image) of the tiny QEMU guest that tests and benches boot (direct kernel boot)."""
    from compute.models import Flavor, Image

    flavor = Flavor.objects.create(name="bench", vcpus=vcpus, ram_mib=ram_mib, disk_gib=disk_gib)
    kernel, initrd = image_paths
    image = Image.objects.create(
        name="tiny-guest", kind="kernel", kernel_path=kernel, initrd_path=initrd
    )
    return flavor, image


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat_cpu_ms(pid: int) -> float:
    """utime + stime of one process, in ms (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_MS


def server_cpu_ms(pid: int) -> float:
    """CPU time so far of a server process and its children (gunicorn's master and workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return _stat_cpu_ms(pid) + sum(_stat_cpu_ms(int(c)) for c in children)


def postgres_cpu_ms(db_name: str) -> float:
    """CPU time so far of the PostgreSQL backends connected to `db_name` (same machine)."""
    total = 0.0
    marker = f" {db_name} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                continue
            if not (entry / "comm").read_text().startswith("postgres"):
                continue
        except OSError:
            continue
        total += _stat_cpu_ms(int(entry.name))
    return total
