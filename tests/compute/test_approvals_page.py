"""Requests carry a justification (required where the environment says so) that approvers see
with the cost estimate and the quota impact; the approvals page decides several requests at
once (four eyes still per request, each saying what became of it), lists the decisions taken,
and the navigation shows approvers how many requests wait for them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import PriceList
from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from portal import services as portal_services

pytestmark = pytest.mark.django_db


def request_vm(world, flavor, image, name, *, by=None, justification="", env=None):
    return services.vm_request_create(
        requested_by=by or world.member,
        environment=env or world.production,
        flavor=flavor,
        image=image,
        name=name,
        justification=justification,
    )


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state(vm) -> str:
    return VirtualMachine.objects.unscoped().get(pk=vm.pk).state


def test_an_environment_can_require_a_justification(world, sim_host, flavor, image):
    portal_services.environment_update(
        updated_by=world.tenant_admin, environment=world.production, justification_required=True
    )
    client = login(world.member)
    form = {
        "environment": world.production.pk,
        "flavor": flavor.pk,
        "image": image.pk,
        "name": "web-1",
    }
    refused = client.post("/vms/new/", form)
    assert refused.status_code in (200, 400)
    assert 'data-error-for="justification"' in refused.content.decode()
    assert not VirtualMachine.objects.filter(name="web-1").exists()
    client.post("/vms/new/", {**form, "justification": "Load test for the March release"})
    vm = VirtualMachine.objects.get(name="web-1")
    assert vm.justification == "Load test for the March release"

    api = APIClient()
    api.force_authenticate(world.member)
    answer = api.post(
        "/api/v1/vms/",
        {
            "name": "web-2",
            "environment": world.production.pk,
            "flavor": flavor.pk,
            "image": image.pk,
        },
        format="json",
    )
    assert answer.status_code == 400 and "justification" in answer.json()
    answer = api.post(
        "/api/v1/vms/",
        {
            "name": "web-2",
            "environment": world.production.pk,
            "flavor": flavor.pk,
            "image": image.pk,
            "justification": "Needed",
        },
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["justification"] == "Needed"
    # Development does not ask: no justification is fine there.
    request_vm(world, flavor, image, "dev-1", env=world.development)


def test_approvers_see_why_what_it_costs_and_what_it_takes(world, sim_host, flavor, image):
    PriceList.objects.create(
        name="std",
        currency="EUR",
        effective_from=timezone.now() - timedelta(days=1),
        vcpu_hour=Decimal("0.05"),
        ram_gib_hour=Decimal("0.01"),
        disk_gib_hour=Decimal("0.001"),
    )
    request_vm(world, flavor, image, "web-1", justification="Black Friday traffic")
    page = login(world.approver).get("/approvals/").content.decode()
    row = page[page.index('data-vm="web-1"') :]
    assert "Black Friday traffic" in row
    assert "EUR" in row[row.index("data-estimate") :]
    assert 'data-resource="vcpus"' in row and "+1 (" in row


def test_bulk_approve_keeps_four_eyes_per_request(world, sim_host, flavor, image, run_on_commit):
    theirs = request_vm(world, flavor, image, "theirs-1")
    also = request_vm(world, flavor, image, "theirs-2")
    own = request_vm(world, flavor, image, "own-1", by=world.approver)
    client = login(world.approver)
    answer = client.post(
        "/approvals/", {"do": "approve", "vm": [theirs.pk, also.pk, own.pk]}, follow=True
    )
    text = answer.content.decode()
    assert state(theirs) != VMState.PENDING_APPROVAL and state(also) != VMState.PENDING_APPROVAL
    assert state(own) == VMState.PENDING_APPROVAL
    assert "theirs-1: approved" in text and "theirs-2: approved" in text
    assert "own-1: Nobody may approve their own request. (not decided)" in text


def test_bulk_reject_needs_a_reason_and_tells_each_requester(world, sim_host, flavor, image):
    a = request_vm(world, flavor, image, "a-1")
    b = request_vm(world, flavor, image, "b-1")
    client = login(world.approver)
    refused = client.post("/approvals/", {"do": "reject", "vm": [a.pk, b.pk], "reason": " "})
    assert refused.status_code == 400 and "reason for the rejection" in refused.content.decode()
    assert state(a) == state(b) == VMState.PENDING_APPROVAL
    client.post("/approvals/", {"do": "reject", "vm": [a.pk, b.pk], "reason": "Budget freeze"})
    assert state(a) == state(b) == VMState.REJECTED
    assert VirtualMachine.objects.get(pk=a.pk).rejection_reason == "Budget freeze"


def test_decided_tab_lists_decisions_of_ones_tenants_only(
    world, other_world, sim_host, flavor, image, run_on_commit
):
    ours = request_vm(world, flavor, image, "ours-1")
    services.vm_reject(vm=ours, rejected_by=world.approver, reason="Not now")
    theirs = services.vm_request_create(
        requested_by=other_world.member,
        environment=other_world.production,
        flavor=flavor,
        image=image,
        name="theirs-1",
    )
    services.vm_reject(vm=theirs, rejected_by=other_world.approver, reason="Secret")
    page = login(world.approver).get("/approvals/?tab=decided").content.decode()
    assert 'data-decision="vm.reject" data-vm="ours-1"' in page and "Not now" in page
    assert "theirs-1" not in page and "Secret" not in page
    assert "ours-1" not in login(world.member).get("/approvals/?tab=decided").content.decode()


def test_navigation_badge_counts_requests_waiting_for_this_approver(world, sim_host, flavor, image):
    request_vm(world, flavor, image, "w-1")
    request_vm(world, flavor, image, "w-2")
    request_vm(world, flavor, image, "mine", by=world.approver)  # four eyes: not theirs to decide
    page = login(world.approver).get("/vms/").content.decode()
    assert 'data-pending="2"' in page
    assert "data-pending" not in login(world.member).get("/vms/").content.decode()


def test_bulk_decide_api_reports_each_request(
    world, other_world, sim_host, flavor, image, run_on_commit
):
    a = request_vm(world, flavor, image, "a-1")
    own = request_vm(world, flavor, image, "own-1", by=world.approver)
    foreign = services.vm_request_create(
        requested_by=other_world.member,
        environment=other_world.production,
        flavor=flavor,
        image=image,
        name="foreign-1",
    )
    api = APIClient()
    api.force_authenticate(world.approver)
    answer = api.post(
        "/api/v1/vms/bulk-decide/",
        {"vms": [a.pk, own.pk, foreign.pk], "decision": "approve"},
        format="json",
    )
    assert answer.status_code == 200
    results = {r["id"]: r for r in answer.json()["results"]}
    assert results[a.pk]["decided"] is True
    assert results[own.pk]["decided"] is False
    assert results[foreign.pk] == {
        "id": foreign.pk,
        "name": "",
        "decided": False,
        "detail": "No request with this id waits for your approval.",
    }
    assert "their own request" in results[own.pk]["detail"]
    assert state(a) != VMState.PENDING_APPROVAL and state(foreign) == VMState.PENDING_APPROVAL
    bad = api.post(
        "/api/v1/vms/bulk-decide/", {"vms": [own.pk], "decision": "reject"}, format="json"
    )
    assert bad.status_code == 400 and "reason" in bad.json()
    bad = api.post("/api/v1/vms/bulk-decide/", {"vms": [], "decision": "maybe"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) >= {"vms", "decision"}


def test_waiting_tab_lists_requests_of_ones_tenants_only(
    world, other_world, sim_host, flavor, image
):
    request_vm(world, flavor, image, "ours-1")
    services.vm_request_create(
        requested_by=other_world.member,
        environment=other_world.production,
        flavor=flavor,
        image=image,
        name="theirs-1",
    )
    page = login(world.approver).get("/approvals/").content.decode()
    assert 'data-vm="ours-1"' in page and "theirs-1" not in page
    assert 'data-vm="theirs-1"' in login(other_world.approver).get("/approvals/").content.decode()


def test_badge_counts_what_the_approval_queue_lets_each_user_decide(
    world, other_world, sim_host, flavor, image
):
    from compute.selectors import approval_pending_for
    from portal.context_processors import _badges
    from portal.permissions import _MEMBERSHIPS

    request_vm(world, flavor, image, "w-1")
    request_vm(world, flavor, image, "mine", by=world.approver)
    request_vm(world, flavor, image, "admins", by=world.tenant_admin)
    services.vm_request_create(
        requested_by=other_world.member,
        environment=other_world.production,
        flavor=flavor,
        image=image,
        name="theirs-1",
    )
    users = [
        world.member, world.approver, world.tenant_admin, world.platform_admin, world.finance,
        other_world.approver,
    ]  # fmt: skip
    expected = [approval_pending_for(fetched_by=u).count() for u in users]
    assert expected == [0, 2, 2, 4, 0, 1]
    # Outside a request (the queryset's SQL) and within one (the memberships of the request).
    assert [_badges(u, can_approve=True)[1] for u in users] == expected
    token = _MEMBERSHIPS.set({})
    try:
        assert [_badges(u, can_approve=True)[1] for u in users] == expected
    finally:
        _MEMBERSHIPS.reset(token)
