"""One tenant scope: every read of a tenant-owned model either goes through `visible_to` or
says `unscoped()`, so `grep -rn "unscoped()"` lists every read that bypasses the scope."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps

from compute.models import VirtualMachine
from portal.models import Tenant
from portal.scoping import OwnedQuerySet, TenantScopedQuerySet, sees_all_tenants
from tests.factories import VirtualMachineFactory

REPO = Path(__file__).resolve().parents[2]
APPS = ("portal", "compute", "quotas", "billing", "metering")
# Calls on a manager that read nothing across tenants (writes; the empty queryset).
ALLOWED = {
    "visible_to",
    "unscoped",
    "create",
    "bulk_create",
    "get_or_create",
    "update_or_create",
    "none",
}


def _scoped_model_names() -> set[str]:
    return {
        model.__name__
        for model in apps.get_models()
        if isinstance(model._default_manager.all(), TenantScopedQuerySet | OwnedQuerySet)
    }


def test_every_tenant_owned_model_has_the_scope():
    names = _scoped_model_names()
    assert {"Tenant", "Environment", "VirtualMachine", "Quota", "QuotaRequest"} <= names
    assert {"Invoice", "InvoiceLine", "Budget", "UsageEvent", "ApiToken", "OutboxEvent"} <= names
    for model in apps.get_models():
        tenant_fk = any(
            getattr(f, "related_model", None) is Tenant and f.many_to_one
            for f in model._meta.fields
        )
        if tenant_fk and model._meta.app_label in APPS:
            assert model.__name__ in names, f"{model.__name__} has a tenant but no scope"


def test_no_read_bypasses_the_scope_without_saying_so():
    names = _scoped_model_names()
    bypasses = []
    for app in APPS:
        for path in sorted((REPO / app).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if "/migrations/" in rel:
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "objects"
                    and isinstance(node.value.value, ast.Name)
                    and node.value.value.id in names
                    and node.attr not in ALLOWED
                ):
                    bypasses.append(
                        f"{rel}:{node.lineno} {node.value.value.id}.objects.{node.attr}"
                    )
    assert bypasses == []


@pytest.mark.django_db
def test_the_rule_members_see_their_tenants_platform_roles_all(world, other_world):
    ours = VirtualMachineFactory(environment=world.development, owner=world.member)
    theirs = VirtualMachineFactory(environment=other_world.development, owner=other_world.member)
    seen = VirtualMachine.objects.visible_to
    assert list(seen(world.member)) == [ours]
    assert set(seen(world.platform_admin)) == set(seen(world.finance)) == {ours, theirs}
    assert sees_all_tenants(world.finance) and not sees_all_tenants(world.tenant_admin)
    # With a permission: the platform role must hold it, a member's role must grant it.
    from portal.permissions import Perm

    tenants = Tenant.objects.visible_to
    assert list(tenants(world.tenant_admin, Perm.AUDIT_VIEW)) == [world.tenant]
    assert list(tenants(world.member, Perm.AUDIT_VIEW)) == []
    assert list(tenants(world.finance, Perm.AUDIT_VIEW)) == []
    assert set(tenants(world.finance, Perm.INVOICE_VIEW)) == {world.tenant, other_world.tenant}
    assert VirtualMachine.objects.unscoped().count() == 2


def test_the_rule_read_by_id_gives_the_same_rows(world, other_world):
    """visible_to(..., by_id=True) writes the member's tenants as an array (planned as a
    constant, for reads of one row): the same rows, whoever asks and for whatever permission."""
    from compute.models import Operation
    from portal.permissions import Perm

    ours = VirtualMachineFactory(environment=world.development, owner=world.member)
    theirs = VirtualMachineFactory(environment=other_world.development, owner=other_world.member)
    Operation.objects.create(vm=ours, kind="provision")
    Operation.objects.create(vm=theirs, kind="provision")
    users = [world.member, world.approver, world.tenant_admin, world.finance, other_world.member]
    users.append(world.platform_admin)
    for model in (VirtualMachine, Tenant, Operation):
        for user in users:
            for perm in (None, Perm.AUDIT_VIEW, Perm.VM_VIEW):
                rows = set(model.objects.visible_to(user, perm))
                assert set(model.objects.visible_to(user, perm, by_id=True)) == rows
                for row in model.objects.unscoped().all():
                    one = model.objects.visible_to(user, perm, by_id=True).filter(pk=row.pk)
                    assert list(one) == ([row] if row in rows else [])
    world.member.is_active = False
    assert list(VirtualMachine.objects.visible_to(world.member, by_id=True)) == []
