"""Consoles of running domains: the serial console as a libvirt stream, the VNC display's port.

The serial console works on any host libvirt reaches (the stream goes through libvirtd). The
VNC display listens on the host's loopback only: the proxy reaches it when it runs on that host
(or through a tunnel that makes the host's loopback port local); see docs/consoles.md.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import libvirt
from lxml import etree

from compute.hypervisor.connection import call, ensure_event_loop
from compute.hypervisor.errors import HypervisorError

logger = logging.getLogger(__name__)

_EVENTS = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_ERROR
    | libvirt.VIR_STREAM_EVENT_HANGUP
)
# Loopback names: a host URI naming one of these (or none) is this machine.
_LOCAL_NAMES = {None, "", "localhost", "127.0.0.1", "::1"}
# What a new serial console session shows first: the end of the guest's console log.
SCROLLBACK_BYTES = 16 * 1024


class SerialConsole:
    """One open serial console of a running domain, on a connection of its own.

    Bytes from the guest are handed to `on_data` in libvirt's event thread; `on_data(None)` once
    when the console ends (the guest stopped, the host went away). `send` and `close` block:
    call them from a worker thread.
    """

    def __init__(self, uri: str, uuid: str, on_data: Callable[[bytes | None], None]) -> None:
        self._uri = uri
        self._uuid = uuid
        self._on_data = on_data
        self._conn: libvirt.virConnect | None = None
        self._stream: libvirt.virStream | None = None
        self._ended = False
        self._lock = threading.Lock()
        # The end of the console's log, read at open (hosts local to the proxy only).
        self.scrollback = b""

    def open(self) -> None:
        ensure_event_loop()
        try:
            self._conn = libvirt.open(self._uri)
        except libvirt.libvirtError as exc:
            raise HypervisorError(
                f"Cannot reach the host at {self._uri}: {exc.get_error_message()}"
            ) from exc
        try:
            dom = self._conn.lookupByUUIDString(self._uuid)
            if not dom.isActive():
                raise HypervisorError("The VM is not running.")
            self.scrollback = _log_tail(self._uri, dom)
            self._stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                dom.openConsole(None, self._stream, 0)
            except libvirt.libvirtError:
                # Another process (another proxy, virsh console) holds the console: take it
                # over. Tabs served by this process share one stream and never get here.
                self._stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
                dom.openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            self._stream.eventAddCallback(_EVENTS, self._on_event, None)
        except libvirt.libvirtError as exc:
            self.close()
            raise HypervisorError(exc.get_error_message() or str(exc)) from exc
        except HypervisorError:
            self.close()
            raise

    def _end(self) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        self._on_data(None)

    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            try:
                data = stream.recv(64 * 1024)
            except libvirt.libvirtError:
                data = b""
            if isinstance(data, bytes) and data:
                self._on_data(data)
                return
            if data == -2:  # would block: nothing after all
                return
        else:
            data = b""
        # End of stream, an error or a hang-up: stop watching it (closing happens elsewhere).
        try:
            stream.eventRemoveCallback()
        except libvirt.libvirtError:
            pass
        self._end()

    def send(self, data: bytes) -> None:
        """Write everything (a paste may be larger than what the stream takes at once)."""
        stream = self._stream
        if stream is None or self._ended:
            return
        view = memoryview(data)
        deadline = time.monotonic() + 10
        while view:
            try:
                sent = stream.send(bytes(view))
            except libvirt.libvirtError as exc:
                raise HypervisorError(exc.get_error_message() or str(exc)) from exc
            if sent == -2:  # the stream's buffer is full: give the guest a moment
                if time.monotonic() > deadline:
                    raise HypervisorError("The serial console stopped taking input.")
                time.sleep(0.01)
                continue
            view = view[sent:]

    def close(self) -> None:
        stream, self._stream = self._stream, None
        conn, self._conn = self._conn, None
        if stream is not None:
            for step in (stream.eventRemoveCallback, stream.abort):
                try:
                    step()
                except libvirt.libvirtError:
                    pass
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass


def _log_tail(uri: str, dom: libvirt.virDomain) -> bytes:
    """The last SCROLLBACK_BYTES of the serial console's log file, b"" when there is none.

    QEMU notices a newly opened console pty only on its next once-a-second check and drops what
    the guest writes while nobody is attached; libvirt's log of the serial port has all of it.
    So a session starts with what the guest printed last (its prompt, its boot messages) right
    away, then goes on live. The log lives on the VM's host: read only when that is this machine.
    """
    if urlsplit(uri).hostname not in _LOCAL_NAMES:
        return b""
    log = etree.fromstring(dom.XMLDesc(0)).find("devices/serial/log")
    path = log.get("file") if log is not None else None
    if not path:
        return b""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - SCROLLBACK_BYTES))
            tail = fh.read(SCROLLBACK_BYTES)
    except OSError:
        return b""
    if size > SCROLLBACK_BYTES:
        # Start on a line of its own rather than in the middle of one (or of an escape sequence).
        tail = tail[tail.find(b"\n") + 1 :]
    return tail


def vnc_port(uri: str, uuid: str) -> int | None:
    """The TCP port of the running domain's VNC display, None if it has none."""

    def fn(conn: libvirt.virConnect) -> int | None:
        try:
            dom = conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise HypervisorError("The VM's domain no longer exists on its host.") from exc
            raise
        if not dom.isActive():
            raise HypervisorError("The VM is not running.")
        tree = etree.fromstring(dom.XMLDesc(0))
        graphics = tree.find("devices/graphics[@type='vnc']")
        if graphics is None:
            return None
        port = int(graphics.get("port", "-1"))
        return port if port > 0 else None

    return call(uri, fn)


def vnc_address(uri: str) -> str:
    """Where the proxy connects for the VNC display of a domain on the host at `uri`."""
    if urlsplit(uri).hostname in _LOCAL_NAMES:
        return "127.0.0.1"
    raise HypervisorError(
        "The graphical console is only reachable on hosts local to the console proxy "
        "(displays listen on the host's loopback); the serial console works everywhere."
    )
