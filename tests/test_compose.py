"""docker-compose.yml keeps the promises of docs/operations.md: workers scale out
(`docker compose up --scale worker=4`), one beat, Flower on loopback, migrations as the database's
owner and everything else as the app's role. Read as YAML (no Docker needed); when a compose
tool is installed it also validates the file (`config`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ("worker", "worker-metering", "worker-notifications")
APP_SERVICES = ("web", "console", "beat", *WORKERS)
DB_USER = re.compile(r"^postgres://([^:@/]+)[:@]")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def db_user(service: dict[str, Any]) -> str:
    match = DB_USER.match(service["environment"]["DATABASE_URL"])
    assert match, service["environment"]["DATABASE_URL"]
    return match.group(1)


def test_every_worker_can_be_scaled_out(compose):
    services = compose["services"]
    for name in WORKERS:
        worker = services[name]
        # A fixed name or host port would make the second replica fail to start.
        assert "container_name" not in worker, name
        assert "ports" not in worker, name
        assert "9808" in [str(port) for port in worker.get("expose", [])], name
        command = worker["command"]
        assert command[:4] == ["celery", "-A", "portal", "worker"], name
        # Each replica names itself after its container, so that they do not clash.
        assert "--hostname=worker@%h" in command, name
        assert "deploy" not in worker or "replicas" not in worker["deploy"], name


def test_the_workers_read_the_queues_the_docs_give_them(compose):
    queues = {
        name: next(
            arg for arg in compose["services"][name]["command"] if arg.startswith("--queues=")
        )
        for name in WORKERS
    }
    assert queues == {
        "worker": "--queues=provisioning,nuage",
        "worker-metering": "--queues=metering",
        "worker-notifications": "--queues=notifications",
    }


def test_exactly_one_beat_and_flower_on_loopback(compose):
    services = compose["services"]
    beats = [name for name, s in services.items() if "beat" in (s.get("command") or [])]
    assert beats == ["beat"]
    assert "container_name" not in services["beat"]
    flower = services["flower"]
    assert "flower" in flower["command"]
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"])


def test_migrations_run_as_the_owner_and_the_app_as_its_role(compose):
    services = compose["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    migrate = services["migrate"]
    assert db_user(migrate) == owner
    script = " ".join(migrate["command"])
    assert "manage.py migrate" in script
    role = re.search(r"db_app_role --role (\w+)", script)
    assert role, script
    assert "NUAGE_APP_DB_PASSWORD" in migrate["environment"]
    assert script.index("manage.py migrate") < script.index("db_app_role")
    for name in APP_SERVICES:
        service = services[name]
        assert db_user(service) == role.group(1) != owner, name
        # Nothing runs before the migrations and the role are done.
        assert service["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="no docker compose / docker-compose here")
def test_compose_config_accepts_the_file(tmp_path):
    command = _compose_command()
    assert command is not None
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SECRET_KEY": "compose-config-only",
        "POSTGRES_PASSWORD": "owner-password",
        "NUAGE_APP_DB_PASSWORD": "app-password",
    }
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert (
        resolved["services"]["worker"]["environment"]["DATABASE_URL"]
        == "postgres://nuage_app:app-password@postgres:5432/nuage"
    )
    # Without the app role's password the file refuses to start anything.
    del env["NUAGE_APP_DB_PASSWORD"]
    missing = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode != 0
    assert "NUAGE_APP_DB_PASSWORD" in missing.stderr


# --- libvirt over TLS: docker-compose.tls.yml on top of docker-compose.yml ----------------------

LIBVIRT_CLIENTS = ("web", "console", *WORKERS)


@pytest.fixture(scope="module")
def tls() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text())


def test_tls_gives_every_libvirt_client_the_certificate_read_only(tls):
    services = tls["services"]
    for name in LIBVIRT_CLIENTS:
        assert services[name]["volumes"] == [
            "${NUAGE_LIBVIRT_PKI_CLIENT:-./var/libvirt-pki/compose/client}:/etc/nuage/pki:ro"
        ], name
    libvirt = services["libvirt"]
    assert libvirt["environment"]["NUAGE_LIBVIRT_TLS"] == "1"
    assert "16514" in [str(port) for port in libvirt["expose"]]
    assert any(v.endswith(":/etc/nuage/pki-server:ro") for v in libvirt["volumes"])
    # No host port for libvirt either: the workers reach it on the compose network.
    assert "ports" not in libvirt


def test_tls_keeps_the_workers_scalable(tls):
    for name, service in tls["services"].items():
        assert "container_name" not in service, name
        if name in WORKERS:
            assert "ports" not in service, name
            assert "deploy" not in service, name


def test_the_libvirt_container_turns_tls_on_with_the_mounted_files():
    entrypoint = (ROOT / "docker" / "libvirt" / "entrypoint.sh").read_text()
    assert 'if [ "${NUAGE_LIBVIRT_TLS:-0}" = 1 ]; then' in entrypoint
    for line in (
        "listen_tls = 1",
        "listen_tcp = 0",
        'key_file = "$PKI/serverkey.pem"',
        "tls_allowed_dn_list = [",
    ):
        assert line in entrypoint, line


@pytest.mark.skipif(_compose_command() is None, reason="no docker compose / docker-compose here")
def test_compose_config_accepts_the_tls_option(tmp_path):
    command = _compose_command()
    assert command is not None
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SECRET_KEY": "compose-config-only",
        "POSTGRES_PASSWORD": "owner-password",
        "NUAGE_APP_DB_PASSWORD": "app-password",
        "NUAGE_LIBVIRT_PKI_CLIENT": "/srv/pki/client",
    }
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.tls.yml")]
    result = subprocess.run(
        [*command, *files, "config"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in LIBVIRT_CLIENTS:
        mounts = [str(v) if isinstance(v, str) else v for v in resolved[name]["volumes"]]
        text = str(mounts)
        assert "/srv/pki/client" in text and "/etc/nuage/pki" in text, (name, mounts)
        assert "container_name" not in resolved[name], name
    for name in WORKERS:
        assert "ports" not in resolved[name], name
    assert resolved["libvirt"]["environment"]["NUAGE_LIBVIRT_TLS"] == "1"
    # The base file's volumes of the libvirt host are kept beside the certificate's.
    assert len(resolved["libvirt"]["volumes"]) == 3
