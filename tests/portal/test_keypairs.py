"""SSH public keys: what is accepted and refused, key pairs in the API and on the page."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from portal.models import AuditEntry, KeyPair
from portal.sshkeys import MAX_KEY_LENGTH, parse_public_key


def openssh(private_key, comment: str = "") -> str:
    line = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{line} {comment}" if comment else line


def ed25519_key(comment: str = "alice@laptop") -> str:
    return openssh(ed25519.Ed25519PrivateKey.generate(), comment)


def refusal(text: str) -> str:
    with pytest.raises(ValidationError) as info:
        parse_public_key(text)
    return " ".join(info.value.messages)


@pytest.mark.parametrize(
    ("make", "key_type", "bits"),
    [
        (ed25519.Ed25519PrivateKey.generate, "ssh-ed25519", 256),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-nistp256", 256),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha2-nistp384", 384),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-sha2-nistp521", 521),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "ssh-rsa", 2048),
    ],
)
def test_good_keys_are_accepted_with_type_bits_and_comment(make, key_type, bits):
    parsed = parse_public_key("  " + openssh(make(), "me@host  ") + "\n")
    assert (parsed.key_type, parsed.bits, parsed.comment) == (key_type, bits, "me@host")
    assert parsed.fingerprint.startswith("SHA256:") and not parsed.fingerprint.endswith("=")
    assert parse_public_key(parsed.line) == parsed  # the stored line reads back the same


def test_fingerprint_is_the_one_ssh_keygen_prints(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    line = ed25519_key()
    (tmp_path / "k.pub").write_text(line + "\n")
    printed = subprocess.run(  # noqa: S603 - fixed arguments, a file we wrote
        ["ssh-keygen", "-lf", str(tmp_path / "k.pub")],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert parse_public_key(line).fingerprint == printed


def test_rsa_1024_is_refused_as_too_weak():
    weak = openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "1024 bits; at least 2048" in refusal(weak)


def test_truncated_key_is_refused():
    key_type, blob = ed25519_key().split()[:2]
    raw = base64.b64decode(blob)
    cut = base64.b64encode(raw[:30]).decode()  # valid base64, incomplete structure
    assert "incomplete" in refusal(f"{key_type} {cut}")
    assert "not valid base64" in refusal(f"{key_type} {blob[:-7]}")  # cut mid-base64


def test_extra_data_after_the_key_is_refused():
    key_type, blob = ed25519_key().split()[:2]
    padded = base64.b64encode(base64.b64decode(blob) + b"\0\0\0\0").decode()
    assert "extra data" in refusal(f"{key_type} {padded}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a key", "Not an OpenSSH public key"),
        ("", "Paste a public key"),
        ("ssh-ed25519", "data is missing"),
        ("ssh-ed25519 !!!notbase64!!!", "not valid base64"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "DSA keys are no longer safe"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "private key"),
    ],
)
def test_garbage_is_refused_with_a_reason(text, message):
    assert message in refusal(text)


def test_type_mismatch_between_prefix_and_data_is_refused():
    blob = ed25519_key().split()[1]
    assert "says ssh-rsa but its data is a ssh-ed25519 key" in refusal(f"ssh-rsa {blob}")
    ecdsa = openssh(ec.generate_private_key(ec.SECP256R1())).split()[1]
    assert "ecdsa-sha2-nistp256 key" in refusal(f"ecdsa-sha2-nistp384 {ecdsa}")


def test_bad_ecdsa_point_is_refused():
    # A well-formed blob whose point is not on the curve: only the library can tell.
    name = b"ecdsa-sha2-nistp256"
    blob = b"".join(
        struct.pack(">I", len(part)) + part for part in (name, b"nistp256", b"\x04" + b"\x01" * 64)
    )
    assert "not a valid ecdsa-sha2-nistp256 key" in refusal(
        f"ecdsa-sha2-nistp256 {base64.b64encode(blob).decode()}"
    )


def test_oversized_input_is_refused():
    assert "too long" in refusal("ssh-ed25519 " + "A" * MAX_KEY_LENGTH)


def test_two_keys_at_once_are_refused():
    assert "one key, on one line" in refusal(ed25519_key() + "\n" + ed25519_key())


# --- key pairs --------------------------------------------------------------------------------


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_key_pairs_through_the_api_are_the_owners_only(world):
    alice, other = client_for(world.member), client_for(world.other_member)
    line = ed25519_key()
    created = alice.post("/api/v1/keypairs/", {"name": "laptop", "public_key": line}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["key_type"], body["bits"]) == ("ssh-ed25519", 256)
    assert body["fingerprint"] == parse_public_key(line).fingerprint
    assert [k["name"] for k in alice.get("/api/v1/keypairs/").json()["results"]] == ["laptop"]

    # Another user of the same tenant: the key pair does not exist for them.
    assert other.get("/api/v1/keypairs/").json()["results"] == []
    assert other.get(f"/api/v1/keypairs/{body['id']}/").status_code == 404
    assert other.delete(f"/api/v1/keypairs/{body['id']}/").status_code == 404
    admin = client_for(world.platform_admin)
    assert admin.get(f"/api/v1/keypairs/{body['id']}/").status_code == 404

    dup = alice.post("/api/v1/keypairs/", {"name": "again", "public_key": line}, format="json")
    assert dup.status_code == 400
    assert "already registered as 'laptop'" in dup.json()["public_key"][0]
    same_name = alice.post(
        "/api/v1/keypairs/", {"name": "laptop", "public_key": ed25519_key()}, format="json"
    )
    assert "already have a key named 'laptop'" in same_name.json()["name"][0]
    bad = alice.post("/api/v1/keypairs/", {"name": "x", "public_key": "nope"}, format="json")
    assert bad.status_code == 400 and "Not an OpenSSH public key" in bad.json()["public_key"][0]

    assert alice.delete(f"/api/v1/keypairs/{body['id']}/").status_code == 204
    assert not KeyPair.objects.exists()
    assert list(
        AuditEntry.objects.filter(action__startswith="keypair.").values_list("action", flat=True)
    ) == ["keypair.delete", "keypair.create"]


@pytest.mark.django_db
def test_key_pairs_page_adds_lists_and_deletes(world, client):
    client.force_login(world.member)
    page = client.get("/keys/")
    assert page.status_code == 200 and "No keys yet." in page.content.decode()
    bad = client.post("/keys/", {"name": "laptop", "public_key": "ssh-rsa AAAA"})
    assert bad.status_code == 400
    assert "incomplete" in bad.content.decode()
    line = ed25519_key()
    added = client.post("/keys/", {"name": "laptop", "public_key": line}, follow=True)
    text = added.content.decode()
    assert 'data-key="laptop"' in text and parse_public_key(line).fingerprint in text
    pair = KeyPair.objects.get()
    client.post("/keys/", {"do": "delete", "key_pair": pair.pk})
    assert not KeyPair.objects.exists()
    client.force_login(world.other_member)
    assert client.post("/keys/", {"do": "delete", "key_pair": 999}).status_code == 404
