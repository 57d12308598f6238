"""A per-process cache of libvirt connections, one per host URI, reopened when it dies.

A host that stops answering (a hung libvirtd, a network that drops packets) must not hang the
worker that asked it something: libvirt's remote client waits for an answer forever. So every
call to a host other than libvirt's in-process test driver runs with a deadline
(`CALL_TIMEOUT_SECONDS`, and `CONNECT_TIMEOUT_SECONDS` for opening the connection): past it,
the caller gets `HostTimeout`, whose message says which host did not answer and for how long,
and the connection is dropped from the cache (a new one is opened next time). The call itself
goes on in a daemon thread until the host answers or its socket closes: a thread stuck in C
cannot be stopped, but nobody waits for it. Calls that legitimately last long (a live
migration, a snapshot with memory, an image copy) pass `timeout=None`; those rely on libvirt's
keepalive (`KEEPALIVE_INTERVAL` x `KEEPALIVE_COUNT` seconds without an answer close the
connection, and the call fails), which needs libvirt's event loop: it runs in a daemon thread
of each process that opens a remote connection.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from compute.hypervisor.errors import HostTimeout, HostUnreachable, HypervisorError

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Set from settings.NUAGE when Django starts (compute.apps); seconds.
CALL_TIMEOUT_SECONDS: float = 120.0
CONNECT_TIMEOUT_SECONDS: float = 15.0
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 6


class _Default:
    """`call`'s timeout when the caller does not give one: CALL_TIMEOUT_SECONDS."""


DEFAULT = _Default()

_lock = threading.Lock()
_connections: dict[str, libvirt.virConnect] = {}
_opening: dict[str, threading.Lock] = {}
# Connections dropped while a call on them was stuck: kept referenced, because freeing one
# closes it, and closing waits for the host that does not answer.
_abandoned: list[libvirt.virConnect] = []

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None

# Error codes that mean the connection itself is gone, not that the call was wrong.
_CONNECTION_ERRORS = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_AUTH_FAILED,
}


def _silence(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


libvirt.registerErrorHandler(_silence, None)


def _forget_all() -> None:
    # A forked worker must not share its parent's sockets, nor wait on its parent's locks.
    global _lock
    _lock = threading.Lock()
    _connections.clear()
    _opening.clear()


os.register_at_fork(after_in_child=_forget_all)


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:  # pragma: no cover - logged, the loop must go on
            logger.exception("libvirt event loop iteration failed")


def ensure_event_loop() -> None:
    """Start libvirt's default event loop in a daemon thread, once per process.

    Streams deliver data through it; connections opened after it runs also get keepalives.
    """
    global _loop_thread
    with _loop_lock:
        if _loop_thread is not None and _loop_thread.is_alive():
            return
        libvirt.virEventRegisterDefaultImpl()
        _loop_thread = threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True)
        _loop_thread.start()


def _in_process(uri: str) -> bool:
    """Libvirt's test driver runs inside this process: it cannot hang on a host."""
    return uri.startswith("test:")


def _within(uri: str, seconds: float | None, fn: Callable[[], T]) -> T:
    """fn(), or HostTimeout once `seconds` have passed without it returning."""
    if seconds is None or _in_process(uri):
        return fn()
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=run, name=f"libvirt {uri}", daemon=True).start()
    if not finished.wait(seconds):
        raise HostTimeout(
            f"The host at {uri} did not answer within {seconds:g} s; its connection was "
            "dropped (the host may be overloaded, hung or cut off)."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _open(uri: str) -> libvirt.virConnect:
    if not _in_process(uri):
        ensure_event_loop()  # before the open: keepalive needs it
    try:
        conn = _within(uri, CONNECT_TIMEOUT_SECONDS, lambda: libvirt.open(uri))
    except HostTimeout as exc:
        raise HostUnreachable(
            f"Cannot reach the host at {uri}: no answer within {CONNECT_TIMEOUT_SECONDS:g} s."
        ) from exc
    except libvirt.libvirtError as exc:
        raise HostUnreachable(f"Cannot reach the host at {uri}: {exc.get_error_message()}") from exc
    if not _in_process(uri):
        try:
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        except libvirt.libvirtError:  # a local driver has no keepalive: nothing to set
            pass
    return conn


def get_connection(uri: str) -> libvirt.virConnect:
    with _lock:
        conn = _connections.get(uri)
        opening = _opening.setdefault(uri, threading.Lock())
    if conn is not None and _alive(conn):
        return conn
    # One opening per host at a time, and none under the cache's lock: a host that does not
    # answer holds up only the callers that want it.
    with opening:
        with _lock:
            conn = _connections.get(uri)
        if conn is not None and _alive(conn):
            return conn
        conn = _open(uri)
        with _lock:
            _connections[uri] = conn
        return conn


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False


def drop_connection(uri: str) -> None:
    with _lock:
        conn = _connections.pop(uri, None)
    if conn is not None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass


def _abandon(uri: str, conn: libvirt.virConnect) -> None:
    with _lock:
        if _connections.get(uri) is conn:
            del _connections[uri]
        _abandoned.append(conn)
    logger.warning("Dropped the libvirt connection to %s: a call got no answer in time", uri)


def call(uri: str, fn: Callable[[libvirt.virConnect], T], *, timeout: Any = DEFAULT) -> T:
    """Run fn on the host's connection, reconnecting once if the connection had died.

    `timeout`: seconds fn may take (default CALL_TIMEOUT_SECONDS; None: no deadline, for the
    calls that last as long as a migration or a copy).
    """
    seconds: float | None = CALL_TIMEOUT_SECONDS if isinstance(timeout, _Default) else timeout
    for attempt in (1, 2):
        conn = get_connection(uri)
        try:
            return _within(uri, seconds, lambda conn=conn: fn(conn))  # type: ignore[misc]
        except HostTimeout:
            _abandon(uri, conn)
            raise
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in _CONNECTION_ERRORS and attempt == 1:
                drop_connection(uri)
                continue
            raise HypervisorError(exc.get_error_message() or str(exc)) from exc
    raise AssertionError("unreachable")  # pragma: no cover
