"""The REST API as automation scripts use it: tokens, requests, actions, errors, scoping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from billing.invoicing import invoice_draft
from billing.models import Budget, PriceList
from compute import services as compute_services
from compute.choices import VMState
from compute.models import (
    DrsRecommendation,
    DrsRun,
    ExportJob,
    ImportJob,
    Network,
    NetworkGrant,
    RollingMaintenance,
    VirtualMachine,
)
from portal import services as portal_services
from portal.api.urls import router
from portal.api.viewsets import ScopedGenericViewSet
from portal.audit import audit_record
from portal.models import Membership, WebhookDelivery
from portal.notifications import notify
from portal.scoping import TenantScopedQuerySet
from tests.conftest import TenantWorld
from tests.factories import (
    FlavorFactory,
    HostFactory,
    ImageFactory,
    QuotaRequestFactory,
    VirtualMachineFactory,
)

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_token_from_username_and_password_authenticates(world: TenantWorld):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/vms/").status_code == 401
    bad = anonymous.post("/api/v1/auth/token/", {"username": "apollo-member", "password": "nope"})
    assert bad.status_code == 400
    token = anonymous.post(
        "/api/v1/auth/token/", {"username": "apollo-member", "password": "pw-for-tests"}
    ).json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get("/api/v1/vms/").status_code == 200


def test_request_approve_and_delete_through_the_api(world, sim_host, flavor, image, run_on_commit):
    member, approver = client_for(world.member), client_for(world.approver)
    created = member.post(
        "/api/v1/vms/",
        {
            "name": "api-1",
            "environment": world.production.pk,
            "flavor": flavor.pk,
            "image": image.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    vm = created.json()
    assert (vm["state"], vm["tenant"], vm["owner"]) == (
        "pending_approval",
        "apollo",
        "apollo-member",
    )

    own = member.post(f"/api/v1/vms/{vm['id']}/approve/")
    assert own.status_code == 403  # members cannot approve at all

    approved = approver.post(f"/api/v1/vms/{vm['id']}/approve/")
    assert approved.status_code == 202
    body = member.get(f"/api/v1/vms/{vm['id']}/").json()
    assert body["state"] == "running"
    assert body["host"] == sim_host.name
    assert [s["status"] for s in body["operation"]["steps"]] == ["done"] * 5

    again = approver.post(f"/api/v1/vms/{vm['id']}/approve/")
    assert again.status_code == 409
    assert "running" in again.json()["detail"]

    for action, state in (("stop", "stopped"), ("start", "running"), ("reboot", "running")):
        answer = member.post(f"/api/v1/vms/{vm['id']}/{action}/")
        assert answer.status_code == 202, answer.json()
        assert member.get(f"/api/v1/vms/{vm['id']}/").json()["state"] == state

    deleted = member.delete(f"/api/v1/vms/{vm['id']}/")
    assert deleted.status_code == 202
    assert VirtualMachine.objects.get(pk=vm["id"]).state == VMState.DELETED
    assert member.get(f"/api/v1/vms/{vm['id']}/").status_code == 404


def test_reject_needs_a_reason(world, sim_host, flavor, image):
    vm = VirtualMachineFactory(
        environment=world.production, owner=world.member, flavor=flavor, image=image
    )
    approver = client_for(world.approver)
    answer = approver.post(f"/api/v1/vms/{vm.pk}/reject/", {"reason": ""}, format="json")
    assert answer.status_code == 400
    assert "reason" in answer.json()
    answer = approver.post(f"/api/v1/vms/{vm.pk}/reject/", {"reason": "Too big"}, format="json")
    assert answer.status_code == 202
    assert answer.json()["state"] == "rejected"
    assert answer.json()["rejection_reason"] == "Too big"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": ""}, "name", "blank"),
        ({"name": "x" * 64}, "name", "63"),
        ({"name": "Has_Underscore"}, "name", "lowercase"),
        ({"environment": 999999}, "environment", 'Invalid pk "999999" - object does not exist'),
        ({"flavor": 999999}, "flavor", 'Invalid pk "999999" - object does not exist'),
        ({"image": 999999}, "image", 'Invalid pk "999999" - object does not exist'),
        ({"flavor": "big"}, "flavor", "valid integer"),
    ],
)
def test_bad_requests_get_field_messages(world, sim_host, flavor, image, payload, field, message):
    data = {
        "name": "ok-name",
        "environment": world.development.pk,
        "flavor": flavor.pk,
        "image": image.pk,
        **payload,
    }
    answer = client_for(world.member).post("/api/v1/vms/", data, format="json")
    assert answer.status_code == 400
    assert message in " ".join(answer.json()[field])
    assert not VirtualMachine.objects.exists()


def test_environment_of_another_tenant_is_unknown(world, other_world, sim_host, flavor, image):
    data = {
        "name": "sneaky",
        "environment": other_world.development.pk,
        "flavor": flavor.pk,
        "image": image.pk,
    }
    answer = client_for(world.member).post("/api/v1/vms/", data, format="json")
    assert answer.status_code == 400
    pk = other_world.development.pk
    assert answer.json()["environment"] == [f'Invalid pk "{pk}" - object does not exist.']


def test_flavor_no_host_fits_is_a_field_error(world, sim_host, image):
    huge = FlavorFactory(vcpus=128, ram_mib=2_000_000)
    data = {
        "name": "huge",
        "environment": world.development.pk,
        "flavor": huge.pk,
        "image": image.pk,
    }
    answer = client_for(world.member).post("/api/v1/vms/", data, format="json")
    assert answer.status_code == 400
    assert "No host can fit" in answer.json()["flavor"][0]


def test_platform_admin_builds_a_tenant_by_api(world, tmp_path, sim_host):
    admin = client_for(world.platform_admin)
    tenant = admin.post("/api/v1/tenants/", {"name": "Gemini", "slug": "gemini"}, format="json")
    assert tenant.status_code == 201
    assert [e["name"] for e in tenant.json()["environments"]] == [
        "development",
        "qualification",
        "production",
    ]
    user = admin.post(
        "/api/v1/users/", {"username": "dave", "password": "long-enough-pw"}, format="json"
    )
    assert user.status_code == 201
    membership = admin.post(
        "/api/v1/memberships/",
        {"tenant": tenant.json()["id"], "user": user.json()["id"], "role": "approver"},
        format="json",
    )
    assert membership.status_code == 201
    dup = admin.post(
        "/api/v1/memberships/",
        {"tenant": tenant.json()["id"], "user": user.json()["id"], "role": "member"},
        format="json",
    )
    assert dup.status_code == 400
    assert "already a member" in dup.json()["user"][0]
    flavor = admin.post(
        "/api/v1/flavors/",
        {"name": "xl", "vcpus": 8, "ram_mib": 16384, "disk_gib": 80},
        format="json",
    )
    assert flavor.status_code == 201
    bad_flavor = admin.post(
        "/api/v1/flavors/", {"name": "neg", "vcpus": -1, "ram_mib": 0, "disk_gib": 0}, format="json"
    )
    assert bad_flavor.status_code == 400
    assert {"vcpus", "ram_mib", "disk_gib"} <= set(bad_flavor.json())
    image = admin.post(
        "/api/v1/images/",
        {"name": "debian-12", "kind": "disk", "base_volume": "debian-12.qcow2"},
        format="json",
    )
    assert image.status_code == 201
    no_source = admin.post("/api/v1/images/", {"name": "broken", "kind": "kernel"}, format="json")
    assert no_source.status_code == 400
    from compute.hypervisor.simulated import write_test_node

    uri = write_test_node(tmp_path / "api-host.xml", cpus=8, memory_mib=4096)
    host = admin.post("/api/v1/hosts/", {"name": "api-host", "uri": uri}, format="json")
    assert host.status_code == 201
    assert (host.json()["cpus"], host.json()["memory_mib"]) == (8, 4096)
    unreachable = admin.post(
        "/api/v1/hosts/", {"name": "ghost", "uri": f"test://{tmp_path}/none.xml"}, format="json"
    )
    assert unreachable.status_code == 400
    assert "Cannot reach the host" in unreachable.json()["uri"][0]
    disabled = admin.patch(f"/api/v1/hosts/{host.json()['id']}/", {"enabled": False}, format="json")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False


def test_members_cannot_create_platform_objects(world):
    member = client_for(world.member)
    assert (
        member.post("/api/v1/tenants/", {"name": "X", "slug": "x"}, format="json").status_code
        == 403
    )
    assert (
        member.post(
            "/api/v1/flavors/",
            {"name": "x", "vcpus": 1, "ram_mib": 128, "disk_gib": 1},
            format="json",
        ).status_code
        == 403
    )
    assert (
        member.post(
            "/api/v1/users/", {"username": "eve", "password": "long-enough-pw"}, format="json"
        ).status_code
        == 403
    )


def test_schema_and_docs_are_served(world):
    client = client_for(world.member)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/vms/{id}/approve/" in paths
    assert "/api/v1/auth/token/" in paths
    assert client.get("/api/docs/").status_code == 200


def _foreign_objects(other: TenantWorld) -> dict[str, object]:
    vm = VirtualMachineFactory(environment=other.development, owner=other.member)
    superseded, _current = (
        PriceList.objects.create(
            name=f"prices {year}", currency="EUR", effective_from=datetime(year, 1, 1, tzinfo=UTC)
        )
        for year in (2024, 2025)
    )
    return {
        "tenant": other.tenant,
        "environment": other.production,
        "membership": Membership.objects.filter(tenant=other.tenant).first(),
        "user": other.member,
        "vm": vm,
        "vm-metrics": vm,  # the VM's /metrics/ route, registered by metering on `vms`
        "host": None,  # filled below: platform objects a member may not see
        "flavor": FlavorFactory(is_public=False),
        "image": ImageFactory(is_public=False),
        "token": portal_services.token_create(user=other.member, name="theirs")[0],
        "keypair": portal_services.keypair_create(
            owner=other.member,
            name="theirs",
            public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA8k6mXU1Kg3Dk9kqf5jJ1gmr4R4p2y3m0v"
            "JbTqDq1aZ",
        ),
        "network": (theirs := Network.objects.create(name="theirs", kind="user")),
        "network-grant": NetworkGrant.objects.create(network=theirs, tenant=other.tenant),
        "audit": audit_record(
            actor=other.member, action="test.entry", obj=other.tenant, tenant=other.tenant
        ),
        "webhook": portal_services.webhook_create(
            created_by=other.tenant_admin, tenant=other.tenant, url="https://hooks.example.com/x"
        )[0],
        "webhook-delivery": None,  # filled below, once the webhook exists
        "rolling-maintenance": RollingMaintenance.objects.create(
            requested_by=other.platform_admin, host_ids=[]
        ),
        "drs-recommendation": DrsRecommendation.objects.create(
            run=DrsRun.objects.create(mode="manual", window_minutes=30),
            position=0,
            vm=vm,
            source=HostFactory(),
            target=HostFactory(),
            imbalance_before=0.2,
            imbalance_after=0.1,
        ),
        "price-list": superseded,  # members see only the list in effect
        "budget": Budget.objects.create(tenant=other.tenant, amount=10),
        "quota": other.production.quota,
        "quota-request": QuotaRequestFactory(
            environment=other.production, requested_by=other.member
        ),
        "invoice": invoice_draft(drafted_by=other.finance, tenant=other.tenant, year=2025, month=1)[
            0
        ],
        "vm-export": vm,  # the VM's /export/ route, registered by OVF on `vms`
        "export": ExportJob.objects.create(vm=vm, requested_by=other.member),
        # Imports are platform-wide: a member (of any tenant) sees none.
        "import": ImportJob.objects.create(name="theirs", requested_by=other.platform_admin),
        "volume": compute_services.volume_create(
            created_by=other.member, environment=other.development, name="theirs", size_gib=1
        ),
        "policy-change": portal_services.environment_change(
            updated_by=other.tenant_admin, environment=other.production, requires_approval=False
        )[1],
        "invitation": portal_services.invitation_create(
            created_by=other.tenant_admin, tenant=other.tenant, email="x@example.org"
        )[0],
        "notification": notify(user=other.member, kind="test", text="theirs"),
    }


def test_every_detail_route_answers_404_for_another_tenants_objects(world, other_world, sim_host):
    """Walks the router: each detail route (retrieve, update, delete, actions) with B's ids."""
    objects = _foreign_objects(other_world)
    objects["host"] = sim_host
    objects["webhook-delivery"] = WebhookDelivery.objects.create(
        webhook=objects["webhook"], event="ping", event_id=uuid.uuid4(), body="{}"
    )
    registered = {basename for _prefix, _viewset, basename in router.registry}
    assert registered == set(objects), "a new API resource needs a foreign object here"

    client = client_for(world.member)
    checked = 0
    for prefix, viewset, basename in router.registry:
        pk = objects[basename].pk  # type: ignore[attr-defined]
        calls = [("get", f"/api/v1/{prefix}/{pk}/")]
        for method in ("update", "partial_update", "destroy"):
            if hasattr(viewset, method):
                verb = {"update": "put", "partial_update": "patch", "destroy": "delete"}[method]
                calls.append((verb, f"/api/v1/{prefix}/{pk}/"))
        for extra in viewset.get_extra_actions():
            if extra.detail:
                for verb in extra.mapping:
                    calls.append((verb, f"/api/v1/{prefix}/{pk}/{extra.url_path}/"))
        for verb, url in calls:
            answer = getattr(client, verb)(url, {}, format="json")
            assert answer.status_code == 404, (verb, url, answer.status_code)
            checked += 1
    assert checked >= 14
    assert VirtualMachine.objects.get(pk=objects["vm"].pk).state == VMState.PENDING_APPROVAL


def test_lists_show_only_own_tenants(world, other_world, sim_host):
    VirtualMachineFactory(
        environment=other_world.development, owner=other_world.member, name="theirs"
    )
    VirtualMachineFactory(environment=world.development, owner=world.member, name="ours")
    client = client_for(world.member)
    assert [v["name"] for v in client.get("/api/v1/vms/").json()["results"]] == ["ours"]
    assert [t["slug"] for t in client.get("/api/v1/tenants/").json()["results"]] == ["apollo"]
    assert client.get("/api/v1/hosts/").json()["results"] == []
    finance = client_for(world.finance)
    assert {v["name"] for v in finance.get("/api/v1/vms/").json()["results"]} == {"ours", "theirs"}


def test_a_view_cannot_opt_out_of_scoping():
    with pytest.raises(TypeError, match="must not override get_queryset"):

        class Leaky(ScopedGenericViewSet):
            def get_queryset(self):  # pragma: no cover
                return VirtualMachine.objects.all()


# Every serializer field that takes a tenant-owned id in a request body, with the route that
# reads it. Platform-only routes (a member gets a 404 before any body is read) are listed as
# such: the walker below fails when a new scoped field is missing here.
_SCOPED_BODY_FIELDS: dict[tuple[str, str], str | None] = {
    ("EnvironmentSerializer", "tenant"): "/api/v1/environments/",
    ("MembershipSerializer", "tenant"): "/api/v1/memberships/",
    ("WebhookSerializer", "tenant"): "/api/v1/webhooks/",
    ("WebhookCreatedSerializer", "tenant"): None,  # an answer only
    ("BudgetSerializer", "tenant"): "/api/v1/budgets/",
    ("VirtualMachineRequestSerializer", "environment"): "/api/v1/vms/",
    ("VirtualMachineRequestSerializer", "flavor"): "/api/v1/vms/",
    ("VirtualMachineRequestSerializer", "image"): "/api/v1/vms/",
    ("VirtualMachineRequestSerializer", "network"): "/api/v1/vms/",
    ("QuotaRequestCreateSerializer", "environment"): "/api/v1/quota-requests/",
    # /hosts/{id}/orphans/adopt/: platform admins only, who see every tenant.
    ("OrphanAdoptSerializer", "environment"): None,
    ("OrphanAdoptSerializer", "owner"): None,
    ("OrphanAdoptSerializer", "flavor"): None,
    ("OrphanAdoptSerializer", "image"): None,
    # /network-grants/: platform admins only (a member's POST is refused before its body).
    ("NetworkGrantSerializer", "network"): None,
    ("NetworkGrantSerializer", "tenant"): None,
    ("NetworkGrantSerializer", "environment"): None,
    ("VolumeCreateSerializer", "environment"): "/api/v1/volumes/",
    ("VolumeCreateSerializer", "vm"): "/api/v1/volumes/",
    # {volume}: one of the requesting tenant's own volumes.
    ("VolumeAttachSerializer", "vm"): "/api/v1/volumes/{volume}/attach/",
    # {vm}: one of the requesting tenant's own VMs.
    ("ResizeSerializer", "flavor"): "/api/v1/vms/{vm}/resize/",
    ("InvitationSerializer", "tenant"): "/api/v1/invitations/",
    ("InvitationCreatedSerializer", "tenant"): None,  # an answer only
}


def _scoped_body_fields() -> set[tuple[str, str]]:
    from rest_framework import serializers

    from billing.api import serializers as billing_api
    from compute.api import serializers as compute_api
    from portal.api import serializers as portal_api
    from portal.api.fields import ScopedPrimaryKeyRelatedField
    from quotas.api import serializers as quotas_api

    found = set()
    for module in (portal_api, compute_api, quotas_api, billing_api):
        for name, cls in vars(module).items():
            if not (isinstance(cls, type) and issubclass(cls, serializers.Serializer)):
                continue
            if cls.__module__ != module.__name__:
                continue
            for field_name, field in cls().fields.items():
                if field.read_only or not isinstance(field, serializers.RelatedField):
                    continue
                if isinstance(field, ScopedPrimaryKeyRelatedField):
                    found.add((name, field_name))
                    continue
                # Ids of objects a tenant owns are only ever taken through the scoped field.
                model = field.queryset.model  # type: ignore[union-attr]
                tenant_owned = isinstance(model._default_manager.all(), TenantScopedQuerySet)
                assert not tenant_owned, (name, field_name)
    return found


def test_a_body_naming_another_tenants_object_reads_as_an_unknown_id(world, other_world):
    """POST bodies: another tenant's id gets the very answer a made-up id gets (a 400 that
    does not confirm the object exists), on every route that reads a tenant-owned id."""
    assert _scoped_body_fields() == set(_SCOPED_BODY_FIELDS)
    foreign = {
        "tenant": other_world.tenant.pk,
        "environment": other_world.production.pk,
        "flavor": FlavorFactory(is_public=False).pk,
        "image": ImageFactory(is_public=False).pk,
        "network": NetworkGrant.objects.create(
            network=Network.objects.create(name="zephyr-only", kind="user"),
            tenant=other_world.tenant,
        ).network_id,
        "vm": VirtualMachineFactory(environment=other_world.development).pk,
    }
    own_volume = compute_services.volume_create(
        created_by=world.tenant_admin, environment=world.development, name="ours", size_gib=1
    )
    own_vm = VirtualMachineFactory(environment=world.development, name="ours")
    unknown = 10**9
    client = client_for(world.tenant_admin)
    checked = 0
    for (_serializer, field), url in _SCOPED_BODY_FIELDS.items():
        if url is None:
            continue
        answers = {}
        for pk in (foreign[field], unknown):
            answer = client.post(
                url.format(volume=own_volume.pk, vm=own_vm.pk), {field: pk}, format="json"
            )
            assert answer.status_code == 400, (url, field, answer.content)
            answers[pk] = answer.json()[field]
        assert answers[foreign[field]] == [
            f'Invalid pk "{foreign[field]}" - object does not exist.'
        ]
        assert answers[unknown] == [f'Invalid pk "{unknown}" - object does not exist.']
        checked += 1
    assert checked == sum(1 for url in _SCOPED_BODY_FIELDS.values() if url)
    others = VirtualMachine.objects.exclude(pk=own_vm.pk)
    assert set(others.values_list("tenant", flat=True)) <= {other_world.tenant.pk}


def test_a_filter_naming_another_tenants_object_reads_as_an_unknown_id(world, other_world):
    """Query strings: every id filter of every list route answers another tenant's id exactly
    as a made-up id (the same 400), never with an empty page that confirms it exists."""
    import django_filters

    from portal.api.filters import ScopedFilterBackend, scoped_choices

    foreign_objects = _foreign_objects(other_world)
    by_model = {type(obj): obj for obj in foreign_objects.values() if obj is not None}
    by_model[type(other_world.tenant)] = other_world.tenant
    by_model[type(other_world.production)] = other_world.production
    by_model[type(other_world.member)] = other_world.member
    unknown = 10**9
    client = client_for(world.tenant_admin)
    checked = 0
    for prefix, viewset, _basename in router.registry:
        if not (getattr(viewset, "filterset_fields", None) or hasattr(viewset, "filterset_class")):
            continue
        view = viewset(action="list")
        view.swagger_fake_view = True  # get_queryset without a request
        filterset = ScopedFilterBackend().get_filterset_class(view, view.get_queryset())
        if filterset is None:
            continue
        for name, spec in filterset.base_filters.items():
            if not isinstance(spec, django_filters.ModelChoiceFilter):
                continue
            model = filterset._meta.model._meta.get_field(spec.field_name).related_model
            # Every id filter of a tenant-owned model (or of users) is scoped.
            assert scoped_choices(model) is None or callable(spec.queryset), (prefix, name)
            if scoped_choices(model) is None or model not in by_model:
                continue
            pk = by_model[model].pk
            theirs = client.get(f"/api/v1/{prefix}/", {name: pk})
            made_up = client.get(f"/api/v1/{prefix}/", {name: unknown})
            assert theirs.status_code == made_up.status_code == 400, (prefix, name, theirs.content)
            assert theirs.json() == made_up.json(), (prefix, name)
            checked += 1
    assert checked >= 10
