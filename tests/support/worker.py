"""A real Celery worker process on Redis for tests, pointed at the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import kombu.pools
from django.db import connection

from portal.celery import app as celery_app

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("NUAGE_TEST_BROKER", "redis://127.0.0.1:6379/0")


def wait_for(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = ""
) -> object:
    """Poll until predicate() is truthy; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@dataclass
class Worker:
    queue: str
    env: dict[str, str]
    log_path: Path
    concurrency: int = 2
    # Threads share one libvirt connection per host, which simulated (test driver) hosts need:
    # their state lives in the connection, private to a process.
    pool: str = "threads"
    # Without the workers' gossip, mingle and heartbeat (tests need none of them), unless given.
    quiet: tuple[str, ...] = ("--without-gossip", "--without-mingle", "--without-heartbeat")
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"test-{self.queue}@{socket.gethostname()}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                str(self.concurrency),
                "--pool",
                self.pool,
                "--loglevel",
                "INFO",
                *self.quiet,
                "-n",
                f"test-{self.queue}@%h",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            lambda: b"ready." in self.log_path.read_bytes(),
            timeout=60,
            what=f"celery worker ready (log {self.log_path})",
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the worker and its pool children at once (a crash, not a shutdown)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def forget_broker_connections() -> None:
    """Drop Celery's cached broker connections so that the next send uses the current URL.

    The producer pool keeps the broker of the first send in this process; after a test that sent
    to another broker (the reconciler tests use memory://) tasks would never reach a worker.
    """
    kombu.pools.reset()  # closes every pooled connection and empties kombu's per-URL registry
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker(url: str, *, eager: bool = False, queue: str | None = None) -> Iterator[None]:
    """Send this process's tasks to `url` (and `queue`) for the duration, then restore."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.task_default_queue, conf.broker_url)
    forget_broker_connections()
    conf.task_always_eager, conf.broker_url = eager, url
    if queue:
        conf.task_default_queue = queue
    try:
        yield
    finally:
        forget_broker_connections()
        conf.task_always_eager, conf.task_default_queue, conf.broker_url = saved


def _redis_cleanup(queue: str) -> None:
    """Delete the queue and kombu's routing-table entry for it, so Redis keeps no litter."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.queue_delete(queue)
        client = getattr(channel, "client", None)
        if client is not None:
            client.delete(f"_kombu.binding.{queue}")


@contextmanager
def celery_worker(
    tmp_path: Path,
    *,
    extra_env: dict[str, str] | None = None,
    concurrency: int = 2,
    pool: str = "threads",
    quiet: tuple[str, ...] = Worker.quiet,
) -> Iterator[Worker]:
    """Run a worker on a private queue; this process sends its tasks there for the duration."""
    queue = f"nuage-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_QUEUE": queue,
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
        **(extra_env or {}),
    }
    worker = Worker(
        queue=queue,
        env=env,
        log_path=tmp_path / f"worker-{queue}.log",
        concurrency=concurrency,
        pool=pool,
        quiet=quiet,
    )
    with broker(BROKER, queue=queue):
        worker.start()
        try:
            yield worker
        finally:
            worker.kill(signal.SIGTERM)
            _redis_cleanup(queue)
