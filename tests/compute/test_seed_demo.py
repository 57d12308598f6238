"""The demo seed: alice gets a key pair whose private half is written under var/, and the
demo tenant a user-mode network, so that a VM she requests says how to SSH into it."""

from __future__ import annotations

import io
import stat

import pytest
from django.core.management import call_command

from compute import services
from compute.models import Flavor, Image, NetworkGrant
from portal.models import Environment, KeyPair, User

pytestmark = pytest.mark.django_db


def test_seed_gives_alice_a_key_and_the_tenant_a_user_network(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    key = tmp_path / "demo-keys" / "alice_ed25519"
    assert f"alice's SSH private key (key pair 'demo'): {key}" in out.getvalue()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    alice = User.objects.get(username="alice")
    pair = KeyPair.objects.get(owner=alice)
    assert pair.name == "demo" and pair.key_type == "ssh-ed25519"
    assert (tmp_path / "demo-keys" / "alice_ed25519.pub").read_text().strip() == pair.public_key
    grant = NetworkGrant.objects.get()
    assert (grant.network.name, grant.network.kind, grant.tenant.slug) == (
        "user-net",
        "user",
        "apollo",
    )

    call_command("seed_demo", stdout=io.StringIO())  # a second seed keeps the same key
    assert KeyPair.objects.get(owner=alice).fingerprint == pair.fingerprint

    vm = services.vm_request_create(
        requested_by=alice,
        environment=Environment.objects.get(tenant__slug="apollo", name="development"),
        flavor=Flavor.objects.get(name="tiny"),
        image=Image.objects.get(name="tiny-linux"),
        name="hello",
        key_pairs=[pair],
    )
    assert vm.authorized_keys == [pair.public_key]
    assert vm.interfaces.get().ssh_command == "ssh -p 22000 root@127.0.0.1"


def test_seed_with_real_guests_requests_alices_vm_with_her_key_once(settings, tmp_path):
    from compute.models import VirtualMachine

    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", "--kernel", "/k", "--initrd", "/i", stdout=out)
    vm = VirtualMachine.objects.unscoped().get(name="demo-vm")
    pair = KeyPair.objects.get(owner__username="alice")
    assert vm.owner.username == "alice" and vm.environment.name == "development"
    assert vm.authorized_keys == [pair.public_key]
    port = vm.interfaces.get().host_port
    key = tmp_path / "demo-keys" / "alice_ed25519"
    assert f"/vms/{vm.pk}/ has its serial console" in out.getvalue()
    assert f"ssh -i {key} -p {port} root@127.0.0.1" in out.getvalue()
    call_command("seed_demo", "--kernel", "/k", "--initrd", "/i", stdout=io.StringIO())
    assert VirtualMachine.objects.unscoped().filter(name="demo-vm").count() == 1
