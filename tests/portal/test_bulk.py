"""portal.bulk.insert_linked: rows of several tables, each taking the keys of those before it,
in one statement."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from portal.bulk import insert_linked
from portal.choices import Role
from portal.models import AuditEntry, Membership, Tenant
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_linked_rows_are_inserted_in_one_statement_with_their_keys(django_assert_num_queries):
    user = UserFactory()
    tenant = Tenant(name="Hermes", slug="hermes")
    member = Membership(user=user, role=Role.MEMBER)
    entry = AuditEntry(action="tenant.create", object_type="portal.tenant", tenant_slug="hermes")
    with django_assert_num_queries(1):
        insert_linked((tenant, {}), (member, {"tenant_id": 0}), (entry, {"tenant_id": 0}))
    assert tenant.pk and member.pk and entry.pk
    assert Membership.objects.get(pk=member.pk).tenant == tenant
    assert AuditEntry.objects.get(pk=entry.pk).tenant_id == tenant.pk
    assert member.tenant_id == entry.tenant_id == tenant.pk
    assert AuditEntry.objects.get(pk=entry.pk).created_at is not None  # auto_now_add filled
    # The objects are as saved ones: a later save() updates rather than inserts.
    tenant.name = "Hermes II"
    tenant.save()
    assert Tenant.objects.get(pk=tenant.pk).name == "Hermes II"


def test_a_row_that_breaks_a_constraint_writes_none_of_them():
    TenantFactory(slug="taken")
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_linked(
            (Tenant(name="Other", slug="taken"), {}),
            (Membership(user=user, role=Role.MEMBER), {"tenant_id": 0}),
        )
    assert not Membership.objects.filter(user=user).exists()


def test_a_link_must_point_to_an_earlier_row():
    with pytest.raises(ValueError, match="before it"):
        insert_linked((Membership(role=Role.MEMBER), {"tenant_id": 1}), (Tenant(), {}))


def test_values_of_every_kind_are_stored_as_given_and_the_statement_is_prepared_once():
    from django.db import connection

    from portal.models import OutboxEvent

    def made(n: int) -> tuple[OutboxEvent, AuditEntry]:
        tenant = TenantFactory()
        event = OutboxEvent(kind="vm.approved", tenant=tenant, payload={"vm_id": n, "x": [1.5]})
        entry = AuditEntry(
            tenant=tenant,
            action="vm.approve",
            object_type="compute.virtualmachine",
            object_id=str(n),
            changes={"reason": "ok", "n": None},
            remote_addr="2001:db8::1" if n < 4 else None,
        )
        # The values are bound on the server, typed by the columns they go into (a uuid, JSON,
        # an address, a null, a time).
        insert_linked((event, {}), (entry, {}))
        return event, entry

    for n in (1, 2, 3, 4):
        event, entry = made(n)
        stored = OutboxEvent.objects.unscoped().get(pk=event.pk)
        assert (stored.event_id, stored.payload, stored.created_at) == (
            event.event_id,
            {"vm_id": n, "x": [1.5]},
            event.created_at,
        )
        row = AuditEntry.objects.get(pk=entry.pk)
        assert (row.changes, row.remote_addr, row.tenant_id) == (
            {"reason": "ok", "n": None},
            "2001:db8::1" if n < 4 else None,
            event.tenant_id,
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE 'WITH r0 AS (INSERT INTO \"portal_outboxevent\"%%'"
        )
        # One statement run three times, and once with a null address (psycopg prepares a
        # statement per types of its values).
        assert sorted(cursor.fetchall()) == [(1,), (3,)]


def test_rows_may_be_left_out_when_a_row_like_them_is_there(django_assert_num_queries):
    TenantFactory(slug="taken")
    first, again = Tenant(name="Taken", slug="taken"), Tenant(name="New", slug="new")
    entry = AuditEntry(action="tenant.create", object_type="portal.tenant")
    with django_assert_num_queries(1):
        insert_linked((first, {}), (again, {}), (entry, {}), ignore_conflicts=[0, 1])
    assert first.pk is None and first._state.adding  # left out: the one there is kept
    assert Tenant.objects.get(slug="taken").name != "Taken"
    assert again.pk and Tenant.objects.get(pk=again.pk).slug == "new"
    assert entry.pk and AuditEntry.objects.filter(pk=entry.pk).exists()
    # A row that is not allowed to be left out still fails the whole statement.
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_linked(
            (Tenant(name="x", slug="fresh"), {}),
            (Tenant(name="y", slug="taken"), {}),
            ignore_conflicts=[0],
        )
    assert not Tenant.objects.filter(slug="fresh").exists()
    # Nothing may take the key of a row that may be left out.
    with pytest.raises(ValueError, match="leave out"):
        insert_linked(
            (Tenant(slug="t"), {}),
            (Membership(role=Role.MEMBER), {"tenant_id": 0}),
            ignore_conflicts=[0],
        )


def test_update_row_sets_values_only_where_the_row_is_as_expected(django_assert_num_queries):
    from datetime import UTC, datetime

    from portal.bulk import update_row
    from portal.models import OutboxEvent

    tenant = TenantFactory(name="Before")
    event = OutboxEvent.objects.create(kind="vm.approved", tenant=tenant, payload={})
    with django_assert_num_queries(1):
        assert (
            update_row(Tenant, tenant.pk, {"name": "After"}, where={"slug": ["x", tenant.slug]})
            == 1
        )
    assert Tenant.objects.get(pk=tenant.pk).name == "After"
    assert update_row(Tenant, tenant.pk, {"name": "Again"}, where={"slug": ["x"]}) == 0
    assert update_row(Tenant, tenant.pk + 1000, {"name": "Again"}) == 0
    assert Tenant.objects.get(pk=tenant.pk).name == "After"
    # Values of other kinds, prepared by their fields (a time, JSON, a foreign key by name).
    when = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
    other = TenantFactory()
    fields = {"payload": {"a": [1, "é"]}, "delivered_at": when, "tenant": other}
    assert update_row(OutboxEvent, event.pk, fields) == 1
    event.refresh_from_db()
    assert (event.payload, event.delivered_at, event.tenant_id) == ({"a": [1, "é"]}, when, other.pk)
