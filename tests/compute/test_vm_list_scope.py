"""The VM list: environment select, "My VMs" / "Tenant VMs" switch; the audit log in words."""

from __future__ import annotations

import re

import pytest

from portal.audit import audit_record
from portal.models import Environment
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def names_on(page: str) -> list[str]:
    return sorted(re.findall(r'<tr data-vm="([^"]+)"', page))


def test_environment_filter_is_a_select_of_the_users_environments(world, other_world, client):
    Environment.objects.create(tenant=world.tenant, name="staging")
    VirtualMachineFactory(environment=world.development, owner=world.member, name="dev-1")
    VirtualMachineFactory(environment=world.production, owner=world.member, name="prod-1")
    client.force_login(world.member)
    page = client.get("/").content.decode()
    select = re.search(r'<select name="environment"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert options == ["", "development", "production", "staging"]
    assert names_on(client.get("/?environment=production").content.decode()) == ["prod-1"]


def test_an_unknown_environment_is_a_form_error_not_an_empty_list(world, client):
    client.force_login(world.member)
    page = client.get("/?environment=nowhere").content.decode()
    assert 'class="error field-error"' in page


def test_my_vms_shows_only_mine_and_tenant_vms_shows_the_tenants(world, client):
    VirtualMachineFactory(environment=world.development, owner=world.member, name="mine-1")
    VirtualMachineFactory(environment=world.development, owner=world.other_member, name="theirs-1")
    client.force_login(world.member)
    everyone = client.get("/").content.decode()
    assert names_on(everyone) == ["mine-1", "theirs-1"]
    assert 'aria-current="page" data-scope="tenant"' in everyone
    mine = client.get("/?scope=mine&sort=name").content.decode()
    assert names_on(mine) == ["mine-1"]
    assert 'aria-current="page" data-scope="mine"' in mine
    # The switch keeps the other filters, and the table's live refresh keeps the scope.
    assert 'href="?sort=name"' in mine
    assert names_on(client.get("/vms/table/?scope=mine").content.decode()) == ["mine-1"]


def test_the_audit_log_shows_actions_in_words(world, client):
    vm = VirtualMachineFactory(environment=world.development, owner=world.member, name="web")
    audit_record(actor=world.member, action="vm.resize_request", obj=vm, tenant=world.tenant)
    audit_record(actor=None, action="vm.provision.succeeded", obj=vm, tenant=world.tenant)
    client.force_login(world.tenant_admin)
    page = client.get("/audit/").content.decode()
    assert "Resize requested" in page and "Creation finished" in page
    assert ">vm.resize_request<" not in page
    assert "Virtual machine #" in page
    client.cookies["django_language"] = "fr"
    french = client.get("/audit/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Redimensionnement demandé" in french
