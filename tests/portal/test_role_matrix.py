"""Each role against each action, through the services (which the UI, the API and the admin
all call), and through the API for the VM actions. One table says who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from billing import invoicing
from billing import services as billing
from billing.choices import UsageKind
from billing.models import Budget, PriceList
from compute import balancing
from compute import services as compute
from compute.choices import VMState
from compute.models import DrsRecommendation, DrsRun, Host
from portal import services as portal
from portal.models import Membership
from portal.permissions import Perm, require_platform_perm
from tests.billing.conftest import ledger, price_list
from tests.conftest import TenantWorld
from tests.factories import UserFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db

ROLES = ["member", "approver", "tenant_admin", "platform_admin", "finance", "outsider"]


def _pending(world: TenantWorld, flavor, image):
    return VirtualMachineFactory(
        environment=world.production, owner=world.other_member, flavor=flavor, image=image
    )


def _draft(world: TenantWorld):
    """A draft for February 2025 with usage in it (an empty invoice is never issued)."""
    if not PriceList.objects.exists():
        price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.01", "0.01")
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    for kind, day in ((UsageKind.CREATED, 3), (UsageKind.STARTED, 3), (UsageKind.STOPPED, 20)):
        ledger(vm, kind, datetime(2025, 2, day, tzinfo=UTC))
    return invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=2
    )[0]


def _running(world: TenantWorld, flavor, image, host: Host, owner=None):
    return VirtualMachineFactory(
        environment=world.development,
        owner=owner or world.other_member,
        flavor=flavor,
        image=image,
        host=host,
        state=VMState.RUNNING,
    )


def _recommendation(world: TenantWorld, c: dict[str, Any]) -> DrsRecommendation:
    """A pending DRS recommendation to move a running VM from host to host2."""
    run = DrsRun.objects.create(mode="manual", window_minutes=30)
    return DrsRecommendation.objects.create(
        run=run,
        position=0,
        vm=_running(world, c["flavor"], c["image"], c["host"]),
        source=c["host"],
        target=c["host2"],
        imbalance_before=0.3,
        imbalance_after=0.1,
    )


# action -> what it does as `user`; every callable returns nothing and raises on refusal.
ACTIONS: dict[str, Callable[[TenantWorld, Any, dict[str, Any]], object]] = {
    "vm.request": lambda w, u, c: compute.vm_request_create(
        requested_by=u, environment=w.development, flavor=c["flavor"], image=c["image"], name="new"
    ),
    "vm.approve": lambda w, u, c: compute.vm_approve(
        vm=_pending(w, c["flavor"], c["image"]), approved_by=u
    ),
    "vm.reject": lambda w, u, c: compute.vm_reject(
        vm=_pending(w, c["flavor"], c["image"]), rejected_by=u, reason="no"
    ),
    "vm.stop (someone else's)": lambda w, u, c: compute.vm_action(
        vm=_running(w, c["flavor"], c["image"], c["host"]), action="stop", requested_by=u
    ),
    "vm.migrate": lambda w, u, c: compute.vm_migrate(
        vm=_running(w, c["flavor"], c["image"], c["host"]), requested_by=u, target=c["host2"]
    ),
    "membership.add": lambda w, u, c: portal.membership_create(
        created_by=u, tenant=w.tenant, user=UserFactory(), role="member"
    ),
    "invitation.create": lambda w, u, c: portal.invitation_create(
        created_by=u, tenant=w.tenant, email="new@example.test", role="member"
    ),
    "membership.change": lambda w, u, c: portal.membership_update(
        updated_by=u, membership=Membership.objects.get(user=w.other_member), role="approver"
    ),
    "environment.edit": lambda w, u, c: portal.environment_update(
        updated_by=u, environment=w.production, auto_approve_max_vcpus=1
    ),
    "tenant.create": lambda w, u, c: portal.tenant_create(created_by=u, name="New", slug="new"),
    "flavor.create": lambda w, u, c: compute.flavor_create(
        created_by=u, name="f-new", vcpus=1, ram_mib=128, disk_gib=1
    ),
    "host.maintenance": lambda w, u, c: compute.host_set_maintenance(
        host=c["host2"], enabled=True, requested_by=u
    ),
    "budget.set": lambda w, u, c: billing.budget_set(
        updated_by=u, tenant=w.tenant, amount=Decimal("100"), block_requests=True
    ),
    "budget.delete": lambda w, u, c: billing.budget_delete(
        deleted_by=u, budget=Budget.objects.get_or_create(tenant=w.tenant, amount=5)[0]
    ),
    "usage.view_all": lambda w, u, c: require_platform_perm(u, Perm.USAGE_VIEW_ALL),
    "drs.run": lambda w, u, c: balancing.drs_run(requested_by=u),
    "drs.apply": lambda w, u, c: balancing.drs_recommendation_apply(
        recommendation=_recommendation(w, c), requested_by=u
    ),
    "drs.dismiss": lambda w, u, c: balancing.drs_recommendation_dismiss(
        recommendation=_recommendation(w, c), requested_by=u
    ),
    "drs.settings": lambda w, u, c: balancing.drs_settings_update(updated_by=u, mode="off"),
    "invoice.draft": lambda w, u, c: invoicing.invoice_draft(
        drafted_by=u, tenant=w.tenant, year=2025, month=1
    ),
    "invoice.issue": lambda w, u, c: invoicing.invoice_issue(issued_by=u, invoice=_draft(w)),
    "invoice.credit": lambda w, u, c: invoicing.invoice_credit(
        credited_by=u, invoice=invoicing.invoice_issue(issued_by=w.finance, invoice=_draft(w))
    ),
}
_INVOICES = {"invoice.draft", "invoice.issue", "invoice.credit"}

_TENANT_VM = {"vm.request", "vm.approve", "vm.reject", "vm.stop (someone else's)"}
_TENANT_ADMIN = _TENANT_VM | {
    "invitation.create",  # adding a member directly ("membership.add"): platform admins only
    "membership.change",
    "environment.edit",
    "budget.set",
    "budget.delete",
}
ALLOWED: dict[str, set[str]] = {
    "member": {"vm.request"},
    "approver": {"vm.request", "vm.approve", "vm.reject"},
    "tenant_admin": _TENANT_ADMIN,
    "platform_admin": set(ACTIONS),
    # Reads every tenant's usage, keeps invoices; never requests or operates VMs, sets no budget.
    "finance": {"usage.view_all"} | _INVOICES,
    "outsider": set(),  # a member of another tenant
}


@pytest.fixture
def ctx(world, other_world, sim_host, flavor, image, tmp_path) -> dict[str, Any]:
    from tests.conftest import make_sim_host

    return {
        "flavor": flavor,
        "image": image,
        "host": sim_host,
        "host2": make_sim_host(tmp_path),
        "outsider": other_world.member,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_against_action(world, ctx, role, action):
    user = ctx["outsider"] if role == "outsider" else getattr(world, role)
    if action in ALLOWED[role]:
        ACTIONS[action](world, user, ctx)
    else:
        with pytest.raises(PermissionDenied):
            ACTIONS[action](world, user, ctx)


@pytest.mark.parametrize(
    ("role", "approve", "stop"),
    [
        ("member", 403, 403),
        ("approver", 202, 403),
        ("tenant_admin", 202, 202),
        ("platform_admin", 202, 202),
        ("finance", 403, 403),
        ("outsider", 404, 404),
    ],
)
def test_vm_actions_through_the_api(world, ctx, role, approve, stop):
    user = ctx["outsider"] if role == "outsider" else getattr(world, role)
    client = APIClient()
    client.force_authenticate(user)
    pending = _pending(world, ctx["flavor"], ctx["image"])
    running = _running(world, ctx["flavor"], ctx["image"], ctx["host"])
    assert client.post(f"/api/v1/vms/{pending.pk}/approve/").status_code == approve
    assert client.post(f"/api/v1/vms/{running.pk}/stop/").status_code == stop


def test_members_operate_their_own_vms(world, ctx):
    own = _running(world, ctx["flavor"], ctx["image"], ctx["host"], owner=world.member)
    compute.vm_action(vm=own, action="stop", requested_by=world.member)
    own.refresh_from_db()
    assert own.state == VMState.STOPPING


@pytest.mark.parametrize(
    ("role", "costs", "finance", "set_budget"),
    [
        # A page the role may not see is a 404, as one that does not exist.
        ("member", 200, 404, 403),
        ("approver", 200, 404, 403),
        ("tenant_admin", 200, 404, 302),
        ("platform_admin", 200, 200, 302),
        ("finance", 200, 200, 403),
        ("outsider", 200, 404, 403),  # their own tenant's costs; apollo's budget is not theirs
    ],
)
def test_cost_pages_by_role(world, ctx, client, role, costs, finance, set_budget):
    user = ctx["outsider"] if role == "outsider" else getattr(world, role)
    client.force_login(user)
    session = client.session
    session["nuage_tenant"] = world.tenant.pk  # the header's choice; outsiders cannot make it
    session.save()
    assert client.get("/costs/").status_code == costs
    assert client.get("/finance/").status_code == finance
    assert client.post("/costs/", {"amount": "100"}).status_code == set_budget
    budget = Budget.objects.filter(tenant=world.tenant).first()
    assert (budget is not None) == (set_budget == 302)
