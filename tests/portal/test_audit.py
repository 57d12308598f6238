"""The audit log: one entry per write with who, where from and what changed; immutable in the
database; readable by platform admins (all) and tenant admins (their tenant), as CSV too."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from compute import services as compute_services
from portal.models import AuditEntry, Membership
from tests.conftest import TenantWorld

pytestmark = pytest.mark.django_db
ADDRESS = "203.0.113.7"


def client_from(user) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(user)
    return client


def last_entry(action: str) -> AuditEntry:
    entry = AuditEntry.objects.filter(action=action).first()
    assert entry is not None, f"no audit entry for {action}"
    return entry


def _vm_request(world: TenantWorld, flavor, image):
    return compute_services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="web-1",
    )


WRITES = [
    # (action, who acts, how, the changed fields expected in the entry)
    (
        "tenant.create",
        "platform_admin",
        ("post", "/api/v1/tenants/", {"name": "Zeus", "slug": "zeus"}),
        {"slug": "zeus"},
    ),
    (
        "user.create",
        "platform_admin",
        ("post", "/api/v1/users/", {"username": "dora", "password": "a-long-pass-123"}),
        {"username": "dora"},
    ),
    (
        "flavor.create",
        "platform_admin",
        ("post", "/api/v1/flavors/", {"name": "xl", "vcpus": 8, "ram_mib": 8192, "disk_gib": 80}),
        {"vcpus": [None, 8]},
    ),
    (
        "image.create",
        "platform_admin",
        ("post", "/api/v1/images/", {"name": "deb", "kind": "disk", "base_volume": "debian.qcow2"}),
        {"base_volume": [None, "debian.qcow2"]},
    ),
    ("token.create", "member", ("post", "/api/v1/tokens/", {"name": "ci"}), {"name": "ci"}),
]


@pytest.mark.parametrize(("action", "who", "call", "expected"), WRITES, ids=[w[0] for w in WRITES])
def test_each_kind_of_write_is_recorded_with_who_where_and_what(world, action, who, call, expected):
    actor = getattr(world, who)
    verb, url, payload = call
    answer = getattr(client_from(actor), verb)(url, payload, format="json")
    assert answer.status_code in (200, 201, 202, 204), answer.content
    entry = last_entry(action)
    assert (entry.actor_username, entry.remote_addr) == (actor.username, ADDRESS)
    for field, value in expected.items():
        assert entry.changes[field] == value, entry.changes
    assert (
        "token" not in str(entry.changes).lower().replace('"name": "ci"', "")
        or action != "token.create"
    )


def test_secrets_never_reach_the_log(world):
    secret = (
        client_from(world.member)
        .post("/api/v1/tokens/", {"name": "ci"}, format="json")
        .json()["token"]
    )
    client_from(world.platform_admin).post(
        "/api/v1/users/", {"username": "dora", "password": "a-long-pass-123"}, format="json"
    )
    dump = str(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert secret not in dump and "a-long-pass-123" not in dump


def test_updates_record_old_and_new_values(world, sim_host):
    client_from(world.platform_admin).patch(
        f"/api/v1/hosts/{sim_host.pk}/", {"enabled": False, "name": sim_host.name}, format="json"
    )
    assert last_entry("host.update").changes == {"enabled": [True, False]}


def test_vm_lifecycle_and_membership_changes_are_recorded(
    world, sim_host, flavor, image, run_on_commit
):
    vm = _vm_request(world, flavor, image)
    client_from(world.approver).post(f"/api/v1/vms/{vm.pk}/approve/")
    client_from(world.member).post(f"/api/v1/vms/{vm.pk}/stop/")
    assert last_entry("vm.request").actor_username == world.member.username
    assert last_entry("vm.approve").remote_addr == ADDRESS
    assert last_entry("vm.stop").tenant_slug == world.tenant.slug
    assert last_entry("vm.provision.succeeded").actor_username == ""  # the worker: "system"

    membership = Membership.objects.get(user=world.member, tenant=world.tenant)
    client_from(world.tenant_admin).patch(
        f"/api/v1/memberships/{membership.pk}/", {"role": "approver"}, format="json"
    )
    assert last_entry("membership.update").changes == {"role": ["member", "approver"]}
    client_from(world.tenant_admin).delete(f"/api/v1/memberships/{membership.pk}/")
    assert last_entry("membership.delete").actor_username == world.tenant_admin.username


def test_the_database_refuses_to_change_or_delete_entries(world):
    entry = client_from(world.member).post("/api/v1/tokens/", {"name": "ci"}, format="json")
    entry = last_entry("token.create")
    for statement in (
        "UPDATE portal_auditentry SET action = 'forged' WHERE id = %s",
        "DELETE FROM portal_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="cannot be changed or deleted"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, [entry.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.action == "token.create"


def test_history_outlives_the_user(world):
    client_from(world.platform_admin).post(
        "/api/v1/users/", {"username": "dora", "password": "a-long-pass-123"}, format="json"
    )
    client_from(world.member).post("/api/v1/tokens/", {"name": "ci"}, format="json")
    world.member.api_tokens.all().delete()
    world.member.memberships.all().delete()
    world.member.delete()
    entry = last_entry("token.create")
    assert entry.actor_username == world.member.username


def test_who_sees_what_and_filters(world, other_world):
    client_from(world.member).post("/api/v1/tokens/", {"name": "a"}, format="json")
    compute_services.flavor_create(
        created_by=world.platform_admin, name="xl", vcpus=2, ram_mib=512, disk_gib=1
    )
    for w in (world, other_world):
        client_from(w.tenant_admin).patch(
            f"/api/v1/memberships/{Membership.objects.get(user=w.member).pk}/",
            {"role": "approver"},
            format="json",
        )

    def actions(user, query: str = "") -> set[str]:
        rows = client_from(user).get(f"/api/v1/audit/{query}").json()["results"]
        return {(r["action"], r["tenant"]) for r in rows}

    assert actions(world.tenant_admin) == {("membership.update", world.tenant.slug)}
    assert actions(world.member) == set()
    everything = actions(world.platform_admin)
    assert ("flavor.create", "") in everything and (
        "membership.update",
        other_world.tenant.slug,
    ) in everything
    assert actions(world.platform_admin, "?action=membership.") == {
        ("membership.update", world.tenant.slug),
        ("membership.update", other_world.tenant.slug),
    }
    assert actions(world.platform_admin, f"?user={world.member.username}") == {("token.create", "")}
    assert actions(world.platform_admin, "?since=2999-01-01T00:00:00Z") == set()
    bad = client_from(world.platform_admin).get("/api/v1/audit/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()


def test_csv_export_parses_back(world, client):
    client_from(world.member).post("/api/v1/tokens/", {"name": 'a, "quoted" name'}, format="json")
    answer = client_from(world.platform_admin).get("/api/v1/audit/export/?action=token.")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert [(r["action"], r["actor"], r["remote_addr"]) for r in rows] == [
        ("token.create", world.member.username, ADDRESS)
    ]
    assert '\\"quoted\\"' in rows[0]["changes"] or '"quoted"' in rows[0]["changes"]
    client.force_login(world.tenant_admin)
    page = client.get("/audit/?format=csv")
    assert page.status_code == 200
    assert list(csv.reader(io.StringIO(b"".join(page.streaming_content).decode())))[1:] == []
    client.force_login(world.platform_admin)
    assert 'data-action="token.create"' in client.get("/audit/?action=token").content.decode()


def test_tenant_admins_manage_members_but_keep_one_admin(world, other_world):
    admin = client_from(world.tenant_admin)
    mine = Membership.objects.get(user=world.tenant_admin, tenant=world.tenant)
    demoted = admin.patch(f"/api/v1/memberships/{mine.pk}/", {"role": "member"}, format="json")
    assert demoted.status_code == 400 and "last admin" in demoted.json()["role"][0]
    assert admin.delete(f"/api/v1/memberships/{mine.pk}/").status_code == 400
    theirs = Membership.objects.get(user=other_world.member)
    assert (
        admin.patch(
            f"/api/v1/memberships/{theirs.pk}/", {"role": "admin"}, format="json"
        ).status_code
        == 404
    )
    member = Membership.objects.get(user=world.member, tenant=world.tenant)
    assert (
        client_from(world.member)
        .patch(f"/api/v1/memberships/{member.pk}/", {"role": "admin"}, format="json")
        .status_code
        == 403
    )
    # Tenant admins invite; adding an existing user directly is for platform admins.
    added = admin.post(
        "/api/v1/memberships/",
        {"tenant": world.tenant.pk, "user": other_world.member.pk, "role": "member"},
        format="json",
    )
    assert added.status_code == 403, added.content
    assert "invitation" in added.json()["detail"]
    assert (
        admin.post(
            "/api/v1/memberships/",
            {"tenant": other_world.tenant.pk, "user": world.member.pk, "role": "member"},
            format="json",
        ).status_code
        == 400
    )  # unknown tenant to them


def test_admin_site_edits_are_audited_too(world, client, flavor):
    staff = world.platform_admin
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    answer = client.post(
        f"/admin/compute/flavor/{flavor.pk}/change/",
        {
            "name": flavor.name,
            "vcpus": 3,
            "ram_mib": flavor.ram_mib,
            "disk_gib": flavor.disk_gib,
            "kind": flavor.kind,
        },
        REMOTE_ADDR=ADDRESS,
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    entry = last_entry("flavor.update.admin")
    assert entry.changes == {"vcpus": [flavor.vcpus, 3], "is_public": [True, False]}
    assert (entry.actor_username, entry.remote_addr) == (staff.username, ADDRESS)


def test_csv_defuses_spreadsheet_formulas(world):
    client_from(world.member).post("/api/v1/tokens/", {"name": "=HYPERLINK(1)"}, format="json")
    answer = client_from(world.platform_admin).get("/api/v1/audit/export/")
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert rows[0]["object"].startswith("'=HYPERLINK")
