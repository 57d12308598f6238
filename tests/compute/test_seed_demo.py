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
    # The demo's invoices have a customer block to print.
    apollo = grant.tenant
    assert (apollo.billing_legal_name, apollo.vat_number) == (
        "Apollo Research SAS",
        "FR40303265045",
    )
    apollo.full_clean()

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


def test_seeding_twice_keeps_one_of_everything_and_new_logins(settings, tmp_path):
    from compute.models import Flavor, Host, Image

    settings.VAR_DIR = tmp_path
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    hosts = list(Host.objects.order_by("name").values_list("name", "enabled"))
    # Two simulated VM hosts and a simulated LXC host for the demo's containers.
    assert hosts == [("host-1", True), ("host-2", True), ("lxc-1", True)]
    assert Flavor.objects.filter(kind="container").count() == 1
    assert Image.objects.filter(kind="rootfs").count() == 1
    assert User.objects.filter(username__in=["alice", "bob", "admin", "carol"]).count() == 4
    assert NetworkGrant.objects.count() == 1 and KeyPair.objects.count() == 1
    # The logins are the last thing the seed says (the demo prints them after the services).
    assert "Demo logins" in second.getvalue()
    assert first.getvalue() != second.getvalue()  # new passwords at each seed


def test_reseeding_with_other_hosts_switches_the_demo_to_them(settings, tmp_path):
    """A plain demo, then NUAGE_DEMO_HOSTS=<uri>: the earlier hosts' names are taken, which
    used to be an IntegrityError on host-1; now the new host is added and the old disabled."""
    from compute.hypervisor.simulated import write_test_node
    from compute.models import Host

    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    real = write_test_node(tmp_path / "real.xml", cpus=8, memory_mib=16384)
    out = io.StringIO()
    call_command("seed_demo", "--host-uri", real, stdout=out)
    hosts = {h.name: (h.uri, h.enabled) for h in Host.objects.all()}
    assert hosts["host-3"] == (real, True)
    assert not hosts["host-1"][1] and not hosts["host-2"][1]
    assert f"host host-3: {real} (8 CPUs, 16384 MiB, reachable)" in out.getvalue()
    assert "host host-1: " in out.getvalue() and "disabled" in out.getvalue()

    call_command("seed_demo", "--host-uri", real, stdout=io.StringIO())  # again: no change
    assert Host.objects.count() == 4 and Host.objects.filter(enabled=True).count() == 2

    call_command("seed_demo", stdout=io.StringIO())  # back to the simulated hosts
    enabled = set(Host.objects.filter(enabled=True).values_list("name", flat=True))
    assert enabled == {"host-1", "host-2", "lxc-1"}
