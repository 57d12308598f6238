"""`make demo`'s script: what a new user needs (the hosts' kind, the logins, the address) comes
last, after the services started; the worker's and the web server's output goes to log files;
Ctrl-C stops everything. Run on simulated hosts in a private var/ folder and port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_prints_logins_and_address_last_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "NUAGE_VAR_DIR": str(tmp_path),
        "NUAGE_DEMO_ADDR": f"127.0.0.1:{port}",
        "NUAGE_DEMO_HOSTS": "sim",
    }
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        demo = subprocess.Popen(
            ["scripts/demo.sh"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "Nuage is at" not in out.read_text():
            assert demo.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.5)
        time.sleep(2)  # anything the worker or the server printed late would come now
        lines = [line for line in out.read_text().splitlines() if line.strip()]
        assert lines[-1].startswith(f"Nuage is at http://127.0.0.1:{port}/")
        assert lines[0].startswith("Simulated hosts (NUAGE_DEMO_HOSTS=sim)")
        logins = lines.index("Demo logins (generated now; they change at each seed):")
        assert [line.split()[0] for line in lines[logins + 1 : logins + 5]] == [
            "alice",
            "bob",
            "admin",
            "carol",
        ]
        # Costs, Finance and Invoices have figures from the start.
        money = next(line for line in lines if line.startswith("Price list 'Standard' (EUR)"))
        assert "budget 250.00" in money and "last month invoiced as" in money, money
        text = "\n".join(lines)
        assert "celery@" not in text and "Uvicorn running" not in text
        assert (tmp_path / "worker.log").exists() and (tmp_path / "web.log").exists()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the web server still answers after Ctrl-C")
