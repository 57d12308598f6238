"""scripts/libvirt-tls.sh without a libvirtd: what it makes, where it installs it, what it
refuses (tests/integration/test_libvirt_tls.py connects with the result)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "libvirt-tls.sh"


def run(pki: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, "NUAGE_LIBVIRT_PKI_DIR": str(pki), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def openssl(*args: str) -> str:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki") / "pki"
    for args in (("ca",), ("server", "kvm-01.example", "192.0.2.11"), ("client", "nuage-worker")):
        result = run(folder, *args)
        assert result.returncode == 0, result.stderr
    return folder


def test_the_server_certificate_names_the_host_and_is_signed_by_the_ca(pki):
    cert = pki / "servers" / "kvm-01.example" / "servercert.pem"
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    assert "DNS:kvm-01.example, IP Address:192.0.2.11" in text
    assert "TLS Web Server Authentication" in text
    assert "CA:FALSE" in text
    ca = pki / "ca" / "cacert.pem"
    assert "OK" in openssl("verify", "-CAfile", str(ca), str(cert))
    assert "CA:TRUE" in openssl("x509", "-in", str(ca), "-noout", "-text")
    assert mode(pki / "ca" / "cakey.pem") == 0o600
    assert mode(pki / "servers" / "kvm-01.example" / "serverkey.pem") == 0o600


def test_the_client_folder_is_ready_for_pkipath(pki):
    folder = pki / "clients" / "nuage-worker"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cacert.pem",
        "clientcert.pem",
        "clientkey.pem",
    ]
    cert = folder / "clientcert.pem"
    # libvirt's tls_allowed_dn_list entry for it is "O=Nuage,CN=nuage-worker": this order.
    assert openssl("x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "compat") == (
        "subject=/O=Nuage/CN=nuage-worker\n"
    )
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    assert "TLS Web Client Authentication" in text
    assert "OK" in openssl("verify", "-CAfile", str(folder / "cacert.pem"), str(cert))


def test_install_puts_files_where_libvirt_looks(pki, tmp_path):
    root = tmp_path / "host"
    assert run(pki, "install-server", "kvm-01.example", str(root)).returncode == 0
    assert mode(root / "etc/pki/libvirt/private/serverkey.pem") == 0o600
    assert (root / "etc/pki/libvirt/servercert.pem").read_bytes() == (
        pki / "servers/kvm-01.example/servercert.pem"
    ).read_bytes()
    assert (root / "etc/pki/CA/cacert.pem").is_file()
    dest = tmp_path / "client"
    assert run(pki, "install-client", "nuage-worker", str(dest)).returncode == 0
    assert mode(dest / "clientkey.pem") == 0o600
    assert (dest / "clientcert.pem").is_file()


def test_install_never_replaces_another_file_silently(pki, tmp_path):
    root = tmp_path / "host"
    (root / "etc/pki/CA").mkdir(parents=True)
    (root / "etc/pki/CA/cacert.pem").write_text("someone else's CA\n")
    refused = run(pki, "install-server", "kvm-01.example", str(root))
    assert refused.returncode != 0
    assert "exists and differs" in refused.stderr
    assert (root / "etc/pki/CA/cacert.pem").read_text() == "someone else's CA\n"
    forced = run(pki, "install-server", "kvm-01.example", str(root), FORCE="1")
    assert forced.returncode == 0


def test_a_second_ca_is_refused_and_odd_names_too(pki):
    again = run(pki, "ca")
    assert again.returncode != 0
    assert "already holds a CA" in again.stderr
    odd = run(pki, "client", "../../etc")
    assert odd.returncode != 0
    assert "not a host or client name" in odd.stderr


def test_certificates_need_the_ca_first(tmp_path):
    result = run(tmp_path / "empty", "client", "nuage-worker")
    assert result.returncode != 0
    assert "run" in result.stderr and " ca' first" in result.stderr


def reads_as(uid: int, path: Path) -> bool:
    """Whether a process of this uid (its group the same number, as the image's user) reads
    the file when its folder is mounted on its own, as a compose volume mounts it (the folders
    above it, private to root here, are not in the way in a container either)."""
    mount = Path(tempfile.mkdtemp(prefix="nuage-pki-mount-", dir="/tmp"))
    mount.chmod(0o755)
    try:
        result = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation=private",
                "sh",
                "-c",
                'mount --bind "$1" "$2" && exec setpriv --reuid="$3" --regid="$3" '
                '--clear-groups cat "$2/$4"',
                "sh",
                str(path.parent),
                str(mount),
                str(uid),
                path.name,
            ],
            capture_output=True,
            check=False,
            timeout=30,
        )
    finally:
        mount.rmdir()
    return result.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="compose copies the key to group 10001: root only")
def test_compose_files_are_readable_by_the_containers_user_only(pki, tmp_path):
    result = run(pki, "server", "libvirt")
    assert result.returncode == 0, result.stderr
    # As install-client leaves it, the key is its maker's alone: the container's user 10001
    # could not read it.
    dest = tmp_path / "plain"
    assert run(pki, "install-client", "nuage-worker", str(dest)).returncode == 0
    assert not reads_as(10001, dest / "clientkey.pem")

    result = run(pki, "compose", "nuage-worker", "libvirt")

    assert result.returncode == 0, result.stderr
    client = pki / "compose" / "client"
    key = client / "clientkey.pem"
    assert key.read_bytes() == (pki / "clients" / "nuage-worker" / "clientkey.pem").read_bytes()
    assert (mode(key), key.stat().st_gid) == (0o640, 10001)
    assert reads_as(10001, key)
    assert not reads_as(10002, key)  # nobody else
    assert reads_as(10001, client / "clientcert.pem") and reads_as(10001, client / "cacert.pem")
    server = pki / "compose" / "server"
    assert sorted(p.name for p in server.iterdir()) == [
        "cacert.pem",
        "servercert.pem",
        "serverkey.pem",
    ]
    assert mode(server / "serverkey.pem") == 0o600  # read by libvirtd, root in its container
    # Run again (a renewed certificate): the files are replaced.
    assert run(pki, "compose", "nuage-worker", "libvirt").returncode == 0
