"""The NoCloud seed: what cloud-init will read back from the documents and the ISO we build."""

from __future__ import annotations

import base64
import io
import re

import pycdlib
import pytest
import yaml
from django.core.exceptions import ValidationError

from compute import cloudinit
from compute.cloudinit import GuestNic

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0d2VyeXNvbWVrZXlieXRlc2Zvcm5vdWFnZQ alice@laptop"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + "x" * 360 + " bob: the #1 admin"


def _cloud_config(data: bytes) -> dict:
    text = data.decode()
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text) or {}


def test_meta_data_names_the_instance_and_host():
    parsed = yaml.safe_load(cloudinit.meta_data(instance_id="0b5e-uuid", hostname="web-1"))
    assert parsed == {"instance-id": "0b5e-uuid", "local-hostname": "web-1"}


def test_every_key_is_listed_once_and_unchanged():
    keys = [ED25519, f"{RSA}\n\n# a comment\n{ED25519}\n"]
    config = _cloud_config(cloudinit.user_data(ssh_keys=keys))
    assert config == {"ssh_authorized_keys": [ED25519, RSA]}


def test_a_long_key_with_yaml_characters_stays_on_one_line():
    data = cloudinit.user_data(ssh_keys=[RSA]).decode()
    assert _cloud_config(data.encode())["ssh_authorized_keys"] == [RSA]
    assert len(data.splitlines()) == 3  # header, key, list item: nothing folded


def test_no_keys_and_no_script_is_an_empty_cloud_config():
    assert cloudinit.user_data() == b"#cloud-config\n"


def test_a_script_is_written_then_run_once():
    script = "#!/bin/sh\necho 'quotes: \"and\" colons' > /tmp/x\n"
    config = _cloud_config(cloudinit.user_data(ssh_keys=[ED25519], user_data=script))
    (entry,) = config["write_files"]
    assert entry["path"] == cloudinit.USER_SCRIPT_PATH
    assert entry["permissions"] == "0700"
    assert base64.b64decode(entry["content"]).decode() == script
    assert config["runcmd"] == [[cloudinit.USER_SCRIPT_PATH]]
    assert config["ssh_authorized_keys"] == [ED25519]


def test_a_users_cloud_config_is_merged_with_our_keys_first():
    theirs = "#cloud-config\npackages: [nginx]\nssh_authorized_keys:\n  - ssh-ed25519 AAAA other\n"
    config = _cloud_config(cloudinit.user_data(ssh_keys=[ED25519], user_data=theirs))
    assert config["packages"] == ["nginx"]
    assert config["ssh_authorized_keys"] == [ED25519, "ssh-ed25519 AAAA other"]


def test_network_config_matches_nics_by_mac():
    nics = [
        GuestNic(mac="52:54:00:12:34:56"),
        GuestNic(
            mac="52:54:00:00:00:01",
            mode="static",
            address="10.9.0.5/24",
            gateway="10.9.0.1",
            dns=("10.9.0.1", "10.9.0.2"),
        ),
    ]
    parsed = yaml.safe_load(cloudinit.network_config(nics))
    assert parsed == {
        "version": 2,
        "ethernets": {
            # Quoted by the YAML library: unquoted, YAML 1.1 reads this MAC as a number.
            "nic0": {"match": {"macaddress": "52:54:00:12:34:56"}, "dhcp4": True},
            "nic1": {
                "match": {"macaddress": "52:54:00:00:00:01"},
                "addresses": ["10.9.0.5/24"],
                "routes": [{"to": "0.0.0.0/0", "via": "10.9.0.1"}],
                "nameservers": {"addresses": ["10.9.0.1", "10.9.0.2"]},
            },
        },
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mac": "52:54:00:12:34"},
        {"mac": "52:54:00:12:34:56", "mode": "static", "address": "10.0.0.300/24"},
        {
            "mac": "52:54:00:12:34:56",
            "mode": "static",
            "address": "10.0.0.5/24",
            "gateway": "10.1.0.1",
        },
        {"mac": "52:54:00:12:34:56", "mode": "bridge"},
    ],
)
def test_a_nic_the_guest_could_not_configure_is_refused(kwargs):
    with pytest.raises(ValueError):
        GuestNic(**kwargs)


def test_without_nics_there_is_no_network_config():
    files = cloudinit.seed_files(instance_id="u", hostname="h")
    assert set(files) == {"meta-data", "user-data"}


@pytest.mark.parametrize(
    "text", ["", "#!/bin/sh\necho hi\n", "#cloud-config\n", "#cloud-config\nruncmd: [ls]\n"]
)
def test_scripts_and_cloud_configs_are_accepted(text):
    cloudinit.validate_user_data(text)


def test_user_data_of_16_kib_is_accepted_and_one_byte_more_refused():
    cloudinit.validate_user_data("#!/bin/sh\n" + "#" * (16 * 1024 - 10))
    with pytest.raises(ValidationError, match="16385 bytes; at most 16384"):
        cloudinit.validate_user_data("#!/bin/sh\n" + "#" * (16 * 1024 - 9))


def test_the_limit_counts_bytes_not_characters():
    with pytest.raises(ValidationError, match="at most 16384 bytes"):
        cloudinit.validate_user_data("#!/bin/sh\n#" + "é" * 8200)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#cloud-config\nruncmd: [ls\n", "not valid YAML (line 3, column 1)"),
        ("#cloud-config\n- a\n- b\n", "must be a mapping"),
        ("#cloud-config\nssh_authorized_keys: ssh-ed25519 AAAA\n", "must be a list"),
        ("echo hi\n", "script starting with #! or a cloud-config"),
        ("#include\nhttp://example.org/x\n", "script starting with #! or a cloud-config"),
    ],
)
def test_bad_user_data_says_what_is_wrong(text, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        cloudinit.validate_user_data(text)


def test_seed_iso_is_labelled_cidata_with_the_files_under_their_names():
    files = cloudinit.seed_files(
        instance_id="uuid-1",
        hostname="web-1",
        ssh_keys=[ED25519],
        nics=[GuestNic(mac="52:54:00:12:34:56")],
    )
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(cloudinit.seed_iso(files)))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        for name, data in files.items():
            for path in ({"rr_path": f"/{name}"}, {"joliet_path": f"/{name}"}):
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **path)
                assert out.getvalue() == data
    finally:
        iso.close()
