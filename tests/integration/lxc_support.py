"""Talking to a real system container in tests: its console, its cgroups."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import libvirt

from compute.hypervisor.console import SerialConsole

CGROUP_ROOT = Path("/sys/fs/cgroup")


class ContainerShell:
    """The container's console (the browser console's libvirt stream), as a test drives it."""

    def __init__(self, uri: str, uuid: str) -> None:
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._runs = 0
        self._console = SerialConsole(uri, uuid, self._on_data)
        self._console.open()

    def _on_data(self, data: bytes | None) -> None:
        if data:
            with self._lock:
                self._buf += data

    def text(self) -> str:
        with self._lock:
            return self._buf.decode(errors="replace")

    def wait_for(self, needle: str, *, timeout: float = 30.0, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if needle in text[start:]:
                return text[start:]
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout}s; console:\n{text}")
            time.sleep(0.05)

    def run(self, command: str, *, timeout: float = 30.0) -> str:
        """Run a command line in the console's shell; return what it printed, once it ended."""
        self._runs += 1
        start = len(self.text())
        # The shell echoes the line with $((...)) unexpanded: only the output has the marker.
        end = f"END{self._runs}-42"
        self._console.send(f'{command}; echo "END{self._runs}-$((6*7))"\n'.encode())
        return self.wait_for(end, timeout=timeout, start=start)

    def send(self, line: str) -> None:
        """Type a line without waiting for anything (a command that ends the shell)."""
        self._console.send(line.encode() + b"\n")

    def close(self) -> None:
        self._console.close()


def cgroup_dir(controller: str, domain_name: str) -> Path:
    """The container's cgroup (v1) for the controller, as libvirt's LXC driver makes it."""
    found = sorted((CGROUP_ROOT / controller / "machine").glob(f"lxc-*-{domain_name}.libvirt-lxc"))
    assert found, f"no {controller} cgroup for {domain_name}"
    return found[-1]


def cpu_time_ns(uri: str, uuid: str) -> int:
    conn = libvirt.open(uri)
    try:
        return int(conn.lookupByUUIDString(uuid).getCPUStats(True)[0]["cpu_time"])
    finally:
        conn.close()
