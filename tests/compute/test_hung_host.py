"""A host whose libvirtd accepts the connection and never answers does not hang the worker:
the call gives up after its deadline with an error that names the host, recorded on the host
(heartbeat) or on the operation (provisioning)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections

from compute import hypervisor, services
from compute.choices import OperationStatus, VMState
from compute.hypervisor import connection
from compute.models import Host, Operation, VirtualMachine
from tests.compute.test_reconcile import messages_lost, pending_request
from tests.conftest import make_sim_host
from tests.factories import HostFactory


@pytest.fixture
def hung_uri() -> Iterator[str]:
    """A libvirt URI whose "daemon" (a listener on 127.0.0.1) accepts and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            accepted.append(conn)  # held open, never read nor answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"qemu+tcp://127.0.0.1:{listener.getsockname()[1]}/system"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:  # the libvirt threads still waiting get their end of file
            conn.close()
        listener.close()


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(connection, "CALL_TIMEOUT_SECONDS", 0.5)


def finishes(fn: Callable[[], Any], *, within: float = 30.0) -> Any:
    """fn's result, run in a thread of its own (with its own database connection: the tests
    that use it commit their data); fails the test if fn still runs after `within` s (hung)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()  # this thread's own database connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still waiting on the hung host after {within} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_a_call_to_a_hung_host_fails_with_a_clear_error(hung_uri, short_deadlines):
    with pytest.raises(hypervisor.HostUnreachable) as caught:
        finishes(lambda: hypervisor.host_alive(hung_uri))
    assert str(caught.value) == f"Cannot reach the host at {hung_uri}: no answer within 0.5 s."


def test_a_call_that_never_returns_is_given_up_and_its_connection_dropped(
    monkeypatch, short_deadlines
):
    uri = "qemu+tcp://127.0.0.1:1/system"
    stuck = threading.Event()
    opened: list[object] = []

    def fake_connection(uri: str) -> object:
        opened.append(object())
        connection._connections[uri] = opened[-1]  # type: ignore[assignment]
        return opened[-1]

    monkeypatch.setattr(connection, "get_connection", fake_connection)
    try:
        with pytest.raises(hypervisor.HostTimeout) as caught:
            finishes(lambda: connection.call(uri, lambda conn: stuck.wait(60)))
    finally:
        stuck.set()
    assert str(caught.value).startswith(f"The host at {uri} did not answer within 0.5 s")
    assert uri not in connection._connections  # the next call opens a new one
    assert opened[0] in connection._abandoned  # not freed: closing it would wait on the host


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_records_the_hung_host_and_goes_on(hung_uri, short_deadlines, tmp_path):
    sim_host = make_sim_host(tmp_path, enabled=True)
    hung = HostFactory(name="hung", uri=hung_uri, enabled=True)

    counts = finishes(services.heartbeat)

    assert (counts["up"], counts["missed"]) == (1, 1)
    hung.refresh_from_db()
    assert not hung.reachable
    assert hung.last_error == f"Cannot reach the host at {hung_uri}: no answer within 0.5 s."
    assert Host.objects.get(pk=sim_host.pk).reachable


@pytest.mark.django_db(transaction=True)
def test_a_provisioning_on_a_hung_host_fails_with_the_reason(
    world, flavor, image, hung_uri, short_deadlines
):
    hung = HostFactory(name="hung", uri=hung_uri)
    vm = pending_request(world, flavor, image)
    with messages_lost():
        op = services.vm_approve(vm=vm, approved_by=world.approver)
    VirtualMachine.objects.filter(pk=vm.pk).update(host=hung)  # placed there before it hung

    finishes(lambda: services.operation_advance(operation_id=op.id, max_steps=10))

    op = Operation.objects.get(pk=op.pk)
    assert op.status == OperationStatus.FAILED
    assert op.error_message == f"Cannot reach the host at {hung_uri}: no answer within 0.5 s."
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert f"Cannot reach the host at {hung_uri}" in vm.error_message
