"""Reaching a real guest: cloud-init seed, SSH through a loopback port forward, static address.

Each guest is booted through the driver (no Celery, no database): the seed is built here as
the worker builds it, uploaded into the host's pool through libvirt, and attached as a CD-ROM.
"""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import libvirt
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree

from compute import cloudinit
from compute.hypervisor import driver
from compute.hypervisor.xml import DomainSpec, NicSpec
from compute.tinyguest import TinyGuest
from tests.integration.conftest import BOOT_TIMEOUT, POOL, URI, Guests, purge, serial_log_path
from tests.support.worker import wait_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class KeyPair:
    private: paramiko.Ed25519Key
    public_line: str


def _key_pair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(paramiko.Ed25519Key(file_obj=io.StringIO(pem)), f"{public.decode()} {comment}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Booted:
    name: str
    uuid: str
    domain: str
    seed_volume: str


@pytest.fixture
def boot(tiny_guest: TinyGuest) -> Iterator:
    """Boot a tiny guest with a seed through the driver; remove it and its volumes afterwards."""
    made: list[Booted] = []

    def start(
        name: str,
        *,
        nics: tuple[NicSpec, ...],
        guest_nics: list[cloudinit.GuestNic],
        restricted: bool = True,
        **seed,
    ) -> Booted:
        vm_uuid = str(uuid.uuid4())
        # "nuage-<8 hex>-it-…" like the VMs of the other tests: a crashed run's leftovers go.
        domain = f"nuage-{vm_uuid.replace('-', '')[:8]}-{name}"
        files = cloudinit.seed_files(instance_id=vm_uuid, hostname=name, nics=guest_nics, **seed)
        seed_name = f"{domain}-seed.iso"
        booted = Booted(name, vm_uuid, domain, seed_name)
        made.append(booted)
        iso = cloudinit.seed_iso(files)
        seed_path = driver.ensure_seed_volume(URI, pool=POOL, name=seed_name, data=iso)
        # A rerun (the worker crashed after the upload) finds the volume and writes it again.
        assert driver.ensure_seed_volume(URI, pool=POOL, name=seed_name, data=iso) == seed_path
        disk = driver.ensure_volume(
            URI, pool=POOL, name=f"{domain}.qcow2", capacity_gib=1, backing_volume=None
        )
        spec = DomainSpec(
            name=domain,
            uuid=vm_uuid,
            title=name,
            vcpus=1,
            memory_mib=256,
            disk_path=disk,
            kernel=str(tiny_guest.kernel),
            initrd=str(tiny_guest.initrd),
            cmdline="console=ttyS0",
            serial_log=str(serial_log_path(domain)),
            seed_path=seed_path,
            nics=nics,
            user_net_restricted=restricted,
        )
        assert driver.ensure_domain_defined(URI, spec)
        driver.ensure_domain_running(URI, vm_uuid)
        return booted

    yield start
    prefixes = tuple(f"{b.domain}" for b in made)
    if prefixes:
        purge(lambda name: name.startswith(prefixes))


def _ssh(port: int, key: paramiko.PKey) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    # A fresh guest makes its host key at boot: there is nothing to pin it against.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username="root",
        pkey=key,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
        banner_timeout=30,
        auth_timeout=30,
    )
    return client


def _run(client: paramiko.SSHClient, command: str) -> str:
    _stdin, stdout, stderr = client.exec_command(command, timeout=30)
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
    return out.strip()


def test_guest_answers_ssh_with_its_key_on_a_loopback_port(boot, guests: Guests):
    owner, stranger = _key_pair("alice@laptop"), _key_pair("mallory@elsewhere")
    port = _free_port()
    mac = "52:54:00:4e:00:01"
    vm = boot(
        "it-reach",
        nics=(NicSpec("user", mac, host_port=port),),
        guest_nics=[cloudinit.GuestNic(mac=mac)],
        ssh_keys=[owner.public_line],
        user_script='#!/bin/sh\necho "user script ran as $(id -un)"\n',
    )
    console = guests.wait_booted(vm.domain)
    assert "user script ran as root" in console
    assert "nuage-guest: eth0 10.0.2.15" in console  # QEMU user networking's DHCP

    client = wait_for(
        lambda: _try_ssh(port, owner.private), timeout=BOOT_TIMEOUT, what="SSH to the guest"
    )
    assert isinstance(client, paramiko.SSHClient)
    with client:
        assert _run(client, "hostname") == "it-reach"
        assert _run(client, "cat /var/lib/cloud/instance-id") == vm.uuid
        assert _run(client, "id -u") == "0"

    with pytest.raises(paramiko.AuthenticationException):
        _ssh(port, stranger.private)

    # Removing the VM's seed is one more volume removal, as idempotent as the disk's.
    assert driver.remove_domain(URI, vm.uuid)
    assert driver.remove_volume(URI, pool=POOL, name=vm.seed_volume)
    assert not driver.remove_volume(URI, pool=POOL, name=vm.seed_volume)
    assert guests.volumes(vm.seed_volume) == []


def _try_ssh(port: int, key: paramiko.PKey) -> paramiko.SSHClient | None:
    try:
        return _ssh(port, key)
    except (paramiko.SSHException, OSError):
        return None  # QEMU listens at once; the guest's sshd comes up a few seconds later


# QEMU user networking's alias for the host: what the guest sends there goes to 127.0.0.1.
HOST_ALIAS = "10.0.2.2"


def _try_host_loopback(client: paramiko.SSHClient, port: int) -> str:
    """From inside the guest, open a TCP connection to the host alias on `port` and send a line;
    what busybox nc says and its exit status. (Once connected, nc waits for the other side to
    close, which the listener below never does: `timeout` ends it.)"""
    return _run(
        client, f"echo from-the-guest | timeout 5 nc -w 3 {HOST_ALIAS} {port} 2>&1; echo rc=$?"
    )


def _pending_connection(listener: socket.socket) -> socket.socket | None:
    # QEMU answers the guest's SYN only once its own connect() to the host completed, so when
    # nc has returned, a connection that got through is already in the listener's backlog.
    listener.setblocking(False)
    try:
        conn, _address = listener.accept()
    except BlockingIOError:
        return None
    conn.settimeout(30)
    return conn


def test_a_user_networking_guest_cannot_reach_the_hosts_loopback_but_keeps_its_ssh(
    boot, guests: Guests
):
    key = _key_pair("alice@laptop")
    ports = {"restricted": _free_port(), "open": _free_port()}
    macs = {"restricted": "52:54:00:4e:00:03", "open": "52:54:00:4e:00:04"}
    # Two guests booted together: the default (restricted) and, as the control that shows
    # the probe can succeed, one with host access allowed (NUAGE_USER_NET_HOST_ACCESS).
    vms = {
        kind: boot(
            f"it-loop-{kind}",
            nics=(NicSpec("user", macs[kind], host_port=ports[kind]),),
            guest_nics=[cloudinit.GuestNic(mac=macs[kind])],
            ssh_keys=[key.public_line],
            restricted=kind == "restricted",
        )
        for kind in ("restricted", "open")
    }
    # A service only the host's loopback offers, on a port nothing else uses.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    service_port = listener.getsockname()[1]
    with listener:
        for kind, vm in vms.items():
            console = guests.wait_booted(vm.domain)
            assert "nuage-guest: eth0 10.0.2.15" in console  # DHCP works restricted too
            client = wait_for(
                lambda kind=kind: _try_ssh(ports[kind], key.private),
                timeout=BOOT_TIMEOUT,
                what=f"SSH to the {kind} guest",
            )
            assert isinstance(client, paramiko.SSHClient)
            with client:
                assert _run(client, "hostname") == f"it-loop-{kind}"
                said = _try_host_loopback(client, service_port)
            conn = _pending_connection(listener)
            if kind == "restricted":
                assert conn is None, "the restricted guest reached the host's 127.0.0.1"
                assert said.endswith("rc=1"), said
            else:
                assert conn is not None, f"the control guest did not get through: {said}"
                with conn:
                    assert conn.recv(64) == b"from-the-guest\n"


@pytest.fixture
def isolated_network() -> Iterator[str]:
    """A libvirt network with no <forward> and no host address: guests on it reach nothing."""
    name = f"nuage-test-iso-{uuid.uuid4().hex[:8]}"
    net = etree.Element("network")
    etree.SubElement(net, "name").text = name
    conn = libvirt.open(URI)
    try:
        network = conn.networkCreateXML(etree.tostring(net, encoding="unicode"))
        try:
            yield name
        finally:
            network.destroy()
    finally:
        conn.close()


def test_guest_on_an_isolated_network_takes_its_static_address(
    boot, guests: Guests, isolated_network: str
):
    mac = "52:54:00:4e:00:02"
    vm = boot(
        "it-static",
        nics=(NicSpec("network", mac, source=isolated_network),),
        guest_nics=[
            cloudinit.GuestNic(
                mac=mac,
                mode="static",
                address="10.213.7.25/24",
                gateway="10.213.7.1",
                dns=("10.213.7.1",),
            )
        ],
    )
    # Only the serial console is read: nothing here sends a packet to the guest's address.
    console = guests.wait_booted(vm.domain)
    assert "nuage-guest: eth0 10.213.7.25" in console
    assert "nuage-guest: hostname it-static" in console
    assert f"nuage-guest: instance-id {vm.uuid}" in console
