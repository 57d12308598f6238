"""A member adds her SSH key, requests a VM with it on a granted network, and reads on the VM
page the address and the command to log in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compute import ipam
from compute.models import NetworkGrant, VirtualMachine
from tests.browser.conftest import shot
from tests.portal.test_keypairs import ed25519_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_adds_a_key_and_sees_how_to_ssh_into_her_vm(login, host, world, flavor, image):
    lan = ipam.network_create(
        created_by=world.platform_admin, name="lan", kind="bridge", bridge="br0",
        subnet="10.20.0.0/24", gateway="10.20.0.1", pool_start="10.20.0.10",
        pool_end="10.20.0.20",
    )  # fmt: skip
    NetworkGrant.objects.create(network=lan, tenant=world.tenant)
    alice = login(world.member)

    alice.get_by_role("link", name="SSH keys").click()
    alice.get_by_label("Name").fill("laptop")
    alice.get_by_label("Public key").fill("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ")
    alice.get_by_role("button", name="Add key").click()
    expect(alice.locator("[data-error-for=public_key]")).to_contain_text("not valid base64")
    key = ed25519_key("alice@laptop")
    alice.get_by_label("Public key").fill(key)
    alice.get_by_role("button", name="Add key").click()
    expect(alice.locator("tr[data-key=laptop]")).to_contain_text("SHA256:")
    shot(alice, "keys")

    alice.get_by_role("link", name="Request a VM").first.click()
    alice.get_by_label("Environment").select_option(label="Apollo / production (approval required)")
    alice.get_by_label("Flavor").select_option(label=str(flavor))
    alice.get_by_label("Image").select_option(label=image.name)
    alice.get_by_label("Name", exact=True).fill("web-1")
    alice.get_by_label("laptop (ssh-ed25519", exact=False).check()
    alice.get_by_label("Network").select_option(label="lan (10.20.0.0/24)")
    alice.get_by_role("button", name="Submit request").click()

    expect(alice.locator("#vm-state")).to_have_text("Pending approval")
    expect(alice.locator("code.copy")).to_have_text("ssh root@10.20.0.10")
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"])
    alice.get_by_role("button", name="Copy").click()
    expect(alice.get_by_role("button", name="Copied")).to_be_visible()
    assert alice.evaluate("navigator.clipboard.readText()") == "ssh root@10.20.0.10"
    expect(alice.locator("[data-authorized-key]")).to_contain_text("ssh-ed25519")
    shot(alice, "vm-with-address")
    assert VirtualMachine.objects.get().authorized_keys == [key]

    alice.get_by_role("link", name="My VMs").first.click()
    expect(alice.locator("tr[data-vm='web-1'] [data-ip]")).to_have_text("10.20.0.10")
