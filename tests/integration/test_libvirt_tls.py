"""libvirt over TLS with the certificates scripts/libvirt-tls.sh makes: an extra libvirtd
listening for qemu+tls on 127.0.0.1 (its own mount namespace, as libvirt-up.sh's second host),
registered in Nuage as qemu+tls://127.0.0.1:<port>/system?pkipath=<client folder>."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import REPO
from tests.test_api import client_for

SCRIPT = REPO / "scripts" / "libvirt-tls.sh"
CLIENT = "nuage-worker"
START_TIMEOUT = 60.0


@dataclass
class TlsHost:
    port: int
    pki: Path
    root: Path

    def uri(self, *, host: str = "127.0.0.1", client: str = CLIENT, pki: Path | None = None) -> str:
        folder = (pki or self.pki) / "clients" / client
        return f"qemu+tls://{host}:{self.port}/system?pkipath={folder}"


def tls(pki: Path, *args: str) -> str:
    result = subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, "NUAGE_LIBVIRT_PKI_DIR": str(pki)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_quietly(uri: str) -> libvirt.virConnect:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt.open(uri)


@pytest.fixture(scope="module")
def tls_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHost]:
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.fail(
            "The TLS test starts its own libvirtd in a mount namespace: run it as root with "
            "libvirt-daemon-system installed, or leave it out with -m 'not integration'.",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("tls-host")
    pki = root / "pki"
    tls(pki, "ca")
    tls(pki, "server", "127.0.0.1")  # only the address: "localhost" is another name
    tls(pki, "client", CLIENT)
    tls(pki, "client", "someone-else")  # same CA, but not on the host's list
    server = pki / "servers" / "127.0.0.1"
    port = free_port()
    for folder in ("etc", "lib", "run", "cache", "log", "pool"):
        (root / folder).mkdir()
    # The host's libvirt config, without its domains, pools, networks' autostarts and secrets.
    shutil.copytree("/etc/libvirt", root / "etc", dirs_exist_ok=True, symlinks=True)
    for name in ("storage", "secrets", "qemu/autostart", "qemu/networks/autostart"):
        shutil.rmtree(root / "etc" / name, ignore_errors=True)
    for xml in (root / "etc" / "qemu").glob("*.xml"):
        xml.unlink()
    (root / "etc" / "qemu.conf").write_text("cgroup_controllers = [ ]\n")
    conf = root / "libvirtd.conf"
    conf.write_text(
        "listen_tls = 1\nlisten_tcp = 0\n"
        f'tls_port = "{port}"\nlisten_addr = "127.0.0.1"\n'
        f'key_file = "{server}/serverkey.pem"\n'
        f'cert_file = "{server}/servercert.pem"\n'
        f'ca_file = "{server}/cacert.pem"\n'
        f'tls_allowed_dn_list = ["O=Nuage,CN={CLIENT}"]\n'
        f'host_uuid = "{uuid.uuid4()}"\n'
    )
    mounts = " && ".join(
        f"mount --bind {root / src} {dest}"
        for src, dest in (
            ("etc", "/etc/libvirt"),
            ("lib", "/var/lib/libvirt"),
            ("run", "/run/libvirt"),
            ("cache", "/var/cache/libvirt"),
            ("log", "/var/log/libvirt"),
        )
    )
    log = (root / "libvirtd.log").open("w")
    # unshare and sh exec: the process started here is libvirtd itself.
    daemon = subprocess.Popen(  # noqa: S603
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"{mounts} && exec libvirtd -f {conf} -p {root / 'libvirtd.pid'} --listen",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    host = TlsHost(port=port, pki=pki, root=root)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                conn = open_quietly(host.uri())
                break
            except libvirt.libvirtError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "libvirtd with TLS did not answer: "
                        + (root / "libvirtd.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.2)
        pool = conn.storagePoolDefineXML(
            f"<pool type='dir'><name>nuage</name><target><path>{root / 'pool'}</path>"
            "</target></pool>"
        )
        pool.create()
        conn.close()
        yield host
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


@pytest.mark.integration
def test_a_client_with_the_scripts_certificate_reaches_the_host(tls_host):
    conn = libvirt.open(tls_host.uri())
    try:
        assert conn.getURI().startswith("qemu+tls://127.0.0.1:")
        assert conn.getInfo()[2] > 0  # CPUs
        assert conn.storagePoolLookupByName("nuage").isActive()
    finally:
        conn.close()


@pytest.mark.integration
def test_nuage_registers_a_qemu_tls_host(tls_host, world):
    answer = client_for(world.platform_admin).post(
        "/api/v1/hosts/",
        {"name": "tls-1", "uri": tls_host.uri(), "domain_type": "qemu"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["status"] == "up"
    assert body["cpus"] > 0
    assert body["memory_mib"] > 0


@pytest.mark.integration
def test_a_client_not_on_the_hosts_list_is_refused(tls_host):
    with pytest.raises(libvirt.libvirtError):
        open_quietly(tls_host.uri(client="someone-else"))


@pytest.mark.integration
def test_a_certificate_of_another_ca_is_refused(tls_host, tmp_path):
    other = tmp_path / "other-pki"
    tls(other, "ca")
    tls(other, "client", CLIENT)  # the allowed name, but not signed by the host's CA
    with pytest.raises(libvirt.libvirtError, match="certificate"):
        open_quietly(tls_host.uri(pki=other))


@pytest.mark.integration
def test_the_host_must_be_called_by_a_name_its_certificate_holds(tls_host):
    with pytest.raises(libvirt.libvirtError, match="verify"):
        open_quietly(tls_host.uri(host="localhost"))
