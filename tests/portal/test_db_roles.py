"""The app's own database role (`manage.py db_app_role`): it runs the app, yet cannot alter,
truncate, disable the trigger of or rewrite the audit trail. Real PostgreSQL roles: each test
creates its role, connects as it, and drops it."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection

from compute import services
from compute.choices import VMState
from portal.models import AuditEntry
from portal.services import tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

# Each statement is one way to change the audit trail (or usage events) behind the app's back.
FORBIDDEN = {
    "disable the trigger": (
        "ALTER TABLE portal_auditentry DISABLE TRIGGER portal_auditentry_immutable"
    ),
    "disable all triggers": "ALTER TABLE portal_auditentry DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER portal_auditentry_immutable ON portal_auditentry",
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION portal_auditentry_immutable() RETURNS trigger "
        "AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql"
    ),
    "skip triggers for the session": "SET session_replication_role = replica",
    "truncate": "TRUNCATE portal_auditentry",
    "delete": "DELETE FROM portal_auditentry",
    "update": "UPDATE portal_auditentry SET action = 'nothing.happened'",
    "drop the table": "DROP TABLE portal_auditentry",
    "alter the table": "ALTER TABLE portal_auditentry DROP COLUMN changes",
    "truncate usage events": "TRUNCATE billing_usageevent",
    "delete usage events": "DELETE FROM billing_volumeusageevent",
    "create a table (migrate)": "CREATE TABLE nuage_scratch (id integer)",
}


@pytest.fixture
def app_role(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    name = f"nuage_test_app_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    monkeypatch.setenv("NUAGE_APP_DB_PASSWORD", password)
    call_command("db_app_role", role=name, stdout=io.StringIO())
    try:
        yield name, password
    finally:
        connection.close()  # a test may leave it connected as the role
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')


@contextmanager
def django_connected_as(role: str, password: str) -> Iterator[None]:
    """Django's own connection logs in as `role` (a new session), then as before."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(USER=role, PASSWORD=password)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, session_user")
            assert cursor.fetchone() == (role, role)
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def connect_as(role: str, password: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        dbname=s["NAME"],
        user=role,
        password=password,
        autocommit=True,
    )


def test_app_role_cannot_change_the_audit_trail(world, app_role):
    tenant_create(created_by=world.platform_admin, name="Orion", slug="orion")
    entries = AuditEntry.objects.count()
    assert entries > 0
    with connect_as(*app_role) as conn:
        outcomes = {}
        for what, statement in FORBIDDEN.items():
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                outcomes[what] = "refused"
            else:
                outcomes[what] = "ALLOWED"
        # What it may do: read the trail and add to it.
        assert conn.execute("SELECT count(*) FROM portal_auditentry").fetchone() == (entries,)
    assert outcomes == dict.fromkeys(FORBIDDEN, "refused")
    assert AuditEntry.objects.count() == entries


def test_the_app_runs_as_its_role_and_writes_audit_entries(
    world, app_role, sim_host, flavor, image, run_on_commit
):
    with django_connected_as(*app_role):
        # A VM requested and provisioned (eager tasks after the commit), every step as the role.
        vm = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=flavor,
            image=image,
            name="web-1",
        )
        vm.refresh_from_db()
        assert vm.state == VMState.RUNNING
        entry = AuditEntry.objects.filter(object_id=str(vm.pk), action="vm.request").get()
        with pytest.raises(ProgrammingError, match="permission denied"):
            AuditEntry.objects.filter(pk=entry.pk).delete()
        with pytest.raises(ProgrammingError, match="permission denied"):
            AuditEntry.objects.filter(pk=entry.pk).update(action="vm.nothing")
    assert AuditEntry.objects.get(pk=entry.pk).action == "vm.request"


def test_check_passes_for_the_app_role_and_fails_for_the_owner(app_role, capsys):
    with django_connected_as(*app_role):
        call_command("db_app_role", check=True)
    assert "ok: nuage_test_app_" in capsys.readouterr().out
    with pytest.raises(CommandError, match="superuser"):
        call_command("db_app_role", check=True)  # the suite's own connection: a superuser


def test_refreshing_takes_back_a_privilege_granted_by_hand(app_role):
    role, password = app_role
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT ALL ON portal_auditentry TO "{role}"')
    call_command("db_app_role", role=role, stdout=io.StringIO())
    with connect_as(role, password) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("TRUNCATE portal_auditentry")


def test_the_role_the_process_runs_as_is_refused_as_app_role(app_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (me,) = cursor.fetchone()
    with pytest.raises(CommandError, match="tables' owner"):
        call_command("db_app_role", role=me)
