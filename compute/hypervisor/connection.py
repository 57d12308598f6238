"""A per-process cache of libvirt connections, one per host URI, reopened when it dies."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

import libvirt

from compute.hypervisor.errors import HostUnreachable, HypervisorError

T = TypeVar("T")

_lock = threading.Lock()
_connections: dict[str, libvirt.virConnect] = {}

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
    # A forked worker must not share its parent's sockets.
    _connections.clear()


os.register_at_fork(after_in_child=_forget_all)


def get_connection(uri: str) -> libvirt.virConnect:
    with _lock:
        conn = _connections.get(uri)
        if conn is not None:
            try:
                if conn.isAlive():
                    return conn
            except libvirt.libvirtError:
                pass
            _connections.pop(uri, None)
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise HostUnreachable(
                f"Cannot reach the host at {uri}: {exc.get_error_message()}"
            ) from exc
        _connections[uri] = conn
        return conn


def drop_connection(uri: str) -> None:
    with _lock:
        conn = _connections.pop(uri, None)
    if conn is not None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass


def call(uri: str, fn: Callable[[libvirt.virConnect], T]) -> T:
    """Run fn on the host's connection, reconnecting once if the connection had died."""
    for attempt in (1, 2):
        conn = get_connection(uri)
        try:
            return fn(conn)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in _CONNECTION_ERRORS and attempt == 1:
                drop_connection(uri)
                continue
            raise HypervisorError(exc.get_error_message() or str(exc)) from exc
    raise AssertionError("unreachable")  # pragma: no cover
