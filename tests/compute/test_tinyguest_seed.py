"""The tiny test guest reads back what compute/cloudinit.py writes (its busybox awk parsers)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from compute import cloudinit, tinyguest
from compute.cloudinit import GuestNic

BUSYBOX = shutil.which("busybox")
pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")

KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB bob: it's #1",  # quoted by YAML, quote doubled
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + "y" * 360 + " chloé@été",
]


def _awk(tmp_path: Path, program: str, data: bytes, **variables: str) -> str:
    (tmp_path / "prog.awk").write_text(program)
    (tmp_path / "input").write_bytes(data)
    assigns = [arg for k, v in variables.items() for arg in ("-v", f"{k}={v}")]
    return subprocess.run(
        [BUSYBOX, "awk", *assigns, "-f", str(tmp_path / "prog.awk"), str(tmp_path / "input")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_guest_reads_the_instance_id_and_hostname(tmp_path):
    data = cloudinit.meta_data(instance_id="4f9c7c1e-0000-4000-8000-000000000001", hostname="web-1")
    assert _awk(tmp_path, tinyguest.META_AWK, data, key="instance-id") == (
        "4f9c7c1e-0000-4000-8000-000000000001\n"
    )
    assert _awk(tmp_path, tinyguest.META_AWK, data, key="local-hostname") == "web-1\n"


def test_guest_installs_every_key_exactly(tmp_path):
    data = cloudinit.user_data(ssh_keys=KEYS, user_data="#!/bin/sh\necho hi\n")
    assert _awk(tmp_path, tinyguest.KEYS_AWK, data).splitlines() == KEYS


def test_guest_finds_the_users_script(tmp_path):
    script = "#!/bin/sh\necho 'it works: \"yes\"'\n"
    data = cloudinit.user_data(ssh_keys=KEYS, user_data=script)
    encoded = _awk(tmp_path, tinyguest.SCRIPT_AWK, data, path=cloudinit.USER_SCRIPT_PATH)
    assert base64.b64decode(encoded).decode() == script


def test_guest_finds_no_script_when_there_is_none(tmp_path):
    data = cloudinit.user_data(ssh_keys=KEYS)
    assert _awk(tmp_path, tinyguest.SCRIPT_AWK, data, path=cloudinit.USER_SCRIPT_PATH) == ""


def test_guest_configures_each_nic_by_mac(tmp_path):
    data = cloudinit.network_config(
        [
            GuestNic(mac="52:54:00:12:34:56"),
            GuestNic(
                mac="52:54:00:00:00:01",
                mode="static",
                address="10.9.0.5/24",
                gateway="10.9.0.1",
                dns=("10.9.0.1", "9.9.9.9"),
            ),
            GuestNic(mac="52:54:00:00:00:02", mode="static", address="10.8.0.5/16"),
        ]
    )
    assert _awk(tmp_path, tinyguest.NET_AWK, data).splitlines() == [
        "52:54:00:12:34:56 dhcp - - -",
        "52:54:00:00:00:01 static 10.9.0.5/24 10.9.0.1 10.9.0.1,9.9.9.9",
        "52:54:00:00:00:02 static 10.8.0.5/16 - -",
    ]
