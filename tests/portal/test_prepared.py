"""The reads every API call makes are prepared statements on PostgreSQL (portal/prepared.py)."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from portal import services
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _list(world) -> tuple[object, list[str]]:
    from rest_framework.test import APIClient

    _token, secret = services.token_create(user=world.member, name="prepared")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get("/api/v1/vms/")
    assert answer.status_code == 200
    return answer.json(), [q["sql"] for q in ctx.captured_queries]


def test_the_token_and_the_vm_rows_details_are_prepared_and_logged_with_their_values(world):
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    body, sql = _list(world)
    assert [row["id"] for row in body["results"]] == [vm.pk]
    statements = _prepared()
    assert any('FROM "portal_apitoken" t' in s for s in statements)
    assert sum("vm.id = ANY($1)" in s or "nic.vm_id = ANY($1)" in s for s in statements) == 3
    # Logged as Django logs its own: the statement with its values.
    assert any(f"ANY('{{{vm.pk}}}'" in q for q in sql), sql


def test_without_preparing_the_answer_is_the_same(world, settings):
    VirtualMachineFactory(environment=world.development, owner=world.member)
    prepared, _sql = _list(world)
    settings.NUAGE = {**settings.NUAGE, "DB_PREPARE": False}
    plain, _sql = _list(world)
    assert plain == prepared


def _plans() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return list(cursor.fetchall())


def test_prepared_statements_are_planned_once_not_at_each_of_their_first_runs(world):
    # PostgreSQL plans a statement with parameters again at each of its first five runs unless
    # the connection asks for a generic plan: these reads would be planned at every request of
    # a fresh connection (and at nearly every task of a worker's).
    VirtualMachineFactory(environment=world.development, owner=world.member)
    for _ in range(3):
        _list(world)
    plans = _plans()
    assert plans
    assert all(custom == 0 and generic >= 1 for _sql, generic, custom in plans), plans


def test_a_connection_that_does_not_prepare_keeps_postgresqls_own_choice(settings):
    settings.NUAGE = {**settings.NUAGE, "DB_PREPARE": False}
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            assert cursor.fetchone()[0] == "auto"
    finally:
        fresh.close()


def test_statements_run_in_turn_give_each_its_rows_and_a_failure_leaves_the_connection_usable():
    from django.db import DatabaseError, transaction

    from portal.prepared import prepared_rows

    found = prepared_rows([("SELECT %s::int + 1", [1]), ("SELECT unnest(%s::int[])", [[3, 4]])])
    assert found == [[(2,)], [(3,), (4,)]]
    with pytest.raises(DatabaseError), transaction.atomic():
        prepared_rows([("SELECT 1", []), ("SELECT 1 / %s::int", [0]), ("SELECT 2", [])])
    # The error is Django's, its savepoint rolled back: nothing half-read is left.
    assert prepared_rows([("SELECT %s::text", ["still here"])]) == [[("still here",)]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 5")
        assert cursor.fetchone() == (5,)
