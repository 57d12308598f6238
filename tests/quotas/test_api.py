"""/api/v1/quotas/ and /api/v1/quota-requests/ as users and scripts use them."""

from __future__ import annotations

import pytest

from quotas.models import Quota, QuotaRequest
from tests.factories import FlavorFactory
from tests.test_api import client_for

pytestmark = pytest.mark.django_db


def test_over_quota_vm_request_is_a_400_on_flavor(world, sim_host, image):
    Quota.objects.filter(environment=world.production).update(vcpus_limit=8, vcpus_reserved=6)
    flavor = FlavorFactory(vcpus=4)
    answer = client_for(world.member).post(
        "/api/v1/vms/",
        {"name": "big", "environment": world.production.pk, "flavor": flavor.pk, "image": image.pk},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "flavor": ["Quota exceeded for vCPUs in production: asked 4, 2 left of 8."]
    }


def test_members_see_their_tenants_quotas_only(world, other_world):
    answer = client_for(world.member).get("/api/v1/quotas/")
    assert answer.status_code == 200
    rows = answer.json()["results"]
    assert {(r["tenant"], r["environment"]) for r in rows} == {
        ("apollo", "development"),
        ("apollo", "production"),
    }
    assert rows[0]["resources"]["vcpus"] == {"limit": 64, "used": 0, "reserved": 0, "left": 64}


def test_platform_admin_sets_limits_members_cannot(world):
    quota = world.production.quota
    url = f"/api/v1/quotas/{quota.pk}/"
    assert client_for(world.member).patch(url, {"vcpus": 999}, format="json").status_code == 403
    assert (
        client_for(world.tenant_admin).patch(url, {"vcpus": 999}, format="json").status_code == 403
    )
    admin = client_for(world.platform_admin)
    answer = admin.patch(url, {"vcpus": 16, "vms": 0}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["resources"]["vcpus"]["limit"] == 16
    assert answer.json()["resources"]["vms"]["limit"] == 0
    for payload, field in (({"vcpus": -1}, "vcpus"), ({"ram_mib": 10**12}, "ram_mib")):
        bad = admin.patch(url, payload, format="json")
        assert bad.status_code == 400 and field in bad.json(), bad.json()
    assert admin.patch(url, {}, format="json").status_code == 400


def test_platform_defaults_through_the_api(world):
    admin = client_for(world.platform_admin)
    assert admin.get("/api/v1/quotas/defaults/").json()["vcpus_limit"] == 64
    answer = admin.put("/api/v1/quotas/defaults/", {"vcpus": 8}, format="json")
    assert answer.status_code == 200 and answer.json()["vcpus_limit"] == 8
    member = client_for(world.member)
    assert member.put("/api/v1/quotas/defaults/", {"vcpus": 8}, format="json").status_code == 403


def test_quota_increase_request_partly_approved_then_conflict(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    world.member.email = "member@example.com"
    world.member.save()
    member = client_for(world.member)
    filed = member.post(
        "/api/v1/quota-requests/",
        {
            "environment": world.production.pk,
            "amounts": {"vcpus": 16, "vms": 4},
            "reason": "Load tests next month.",
        },
        format="json",
    )
    assert filed.status_code == 201, filed.json()
    qr = filed.json()
    assert (qr["status"], qr["asked"]) == ("pending", {"vcpus": 16, "vms": 4})

    admin = client_for(world.platform_admin)
    over = admin.post(
        f"/api/v1/quota-requests/{qr['id']}/approve/", {"granted": {"vcpus": 17}}, format="json"
    )
    assert over.status_code == 400 and "at most the 16" in over.json()["vcpus"][0]
    with django_capture_on_commit_callbacks(execute=True):
        approved = admin.post(
            f"/api/v1/quota-requests/{qr['id']}/approve/",
            {"granted": {"vcpus": 8, "vms": 4}, "reason": "Half the vCPUs for now."},
            format="json",
        )
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "partially_approved"
    quota = member.get(f"/api/v1/quotas/{world.production.quota.pk}/").json()
    assert (quota["resources"]["vcpus"]["limit"], quota["resources"]["vms"]["limit"]) == (72, 54)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["member@example.com"]
    assert "Partially approved" in mailoutbox[0].subject

    again = admin.post(f"/api/v1/quota-requests/{qr['id']}/approve/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["state"] == "partially_approved"
    reject = admin.post(
        f"/api/v1/quota-requests/{qr['id']}/reject/", {"reason": "late"}, format="json"
    )
    assert reject.status_code == 409
    history = member.get("/api/v1/quota-requests/").json()["results"]
    assert [h["granted"] for h in history] == [{"vcpus": 8, "vms": 4}]


def test_members_cannot_decide_and_rejection_needs_a_reason(world):
    qr = QuotaRequest.objects.create(
        tenant=world.tenant,
        environment=world.production,
        requested_by=world.member,
        asked={"vcpus": 4},
        reason="x",
    )
    for user in (world.tenant_admin, world.approver, world.other_member):
        answer = client_for(user).post(f"/api/v1/quota-requests/{qr.pk}/approve/", {})
        assert answer.status_code == 403
    admin = client_for(world.platform_admin)
    blank = admin.post(f"/api/v1/quota-requests/{qr.pk}/reject/", {"reason": " "}, format="json")
    assert blank.status_code == 400 and "reason" in blank.json()
    done = admin.post(
        f"/api/v1/quota-requests/{qr.pk}/reject/", {"reason": "Use development."}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    assert Quota.objects.get(environment=world.production).vcpus_limit == 64


@pytest.mark.parametrize(
    ("amounts", "field", "message"),
    [
        ({"vcpus": 0}, "vcpus", "at least 1"),
        ({"vcpus": -3}, "vcpus", "at least 1"),
        ({"vcpus": 10**7}, "amounts", ""),
        ({}, "amounts", "at least one resource"),
    ],
)
def test_bad_quota_requests_get_field_messages(world, amounts, field, message):
    answer = client_for(world.member).post(
        "/api/v1/quota-requests/",
        {"environment": world.production.pk, "amounts": amounts, "reason": "Need more"},
        format="json",
    )
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()
    assert message in str(answer.json()[field])
    assert not QuotaRequest.objects.exists()


def test_quota_request_for_another_tenant(world, other_world):
    member = client_for(world.member)
    answer = member.post(
        "/api/v1/quota-requests/",
        {"environment": other_world.production.pk, "amounts": {"vcpus": 1}, "reason": "x"},
        format="json",
    )
    assert answer.status_code == 400
    pk = other_world.production.pk
    assert answer.json()["environment"] == [f'Invalid pk "{pk}" - object does not exist.']
    theirs = QuotaRequest.objects.create(
        tenant=other_world.tenant,
        environment=other_world.production,
        requested_by=other_world.member,
        asked={"vcpus": 4},
        reason="x",
    )
    assert member.get(f"/api/v1/quota-requests/{theirs.pk}/").status_code == 404
    assert member.get("/api/v1/quota-requests/").json()["results"] == []
