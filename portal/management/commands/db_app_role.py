"""Create (or refresh) the database role the app runs as, with only the privileges it needs.

Run as the owner of the tables (the role migrations run as), after every `migrate`:

    DATABASE_URL=<owner's URL> NUAGE_APP_DB_PASSWORD=<secret> manage.py db_app_role --role nuage_app

The app role may read and write the app's tables, but only read and add to the append-only ones
(audit entries, usage events): it owns nothing, so it cannot disable their triggers, alter, drop
or truncate them (PostgreSQL checks ownership or the TRUNCATE privilege for those, and the
UPDATE and DELETE privileges before any trigger). `--check`, run with the app's own URL, says
whether the role the app connects as could change the audit trail.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

# Rows are added, never changed or removed (a trigger refuses UPDATE and DELETE too).
APPEND_ONLY_MODELS = ("portal.AuditEntry", "billing.UsageEvent", "billing.VolumeUsageEvent")
# Read by the app (pending migrations check), written by `migrate` only.
READ_ONLY_TABLES = ("django_migrations",)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# What the app role must not hold on an append-only table.
FORBIDDEN_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")


def append_only_tables() -> list[str]:
    return [apps.get_model(label)._meta.db_table for label in APPEND_ONLY_MODELS]


class Command(BaseCommand):
    help = (
        "Create or refresh the app's database role (run as the tables' owner after migrate); "
        "--check: can the role this process connects as change the audit trail?"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role", default="nuage_app", help="The app's role (default nuage_app)."
        )
        parser.add_argument(
            "--password-env",
            default="NUAGE_APP_DB_PASSWORD",
            help="Environment variable holding the role's password (never on the command line); "
            "unset or empty: an existing role keeps its password.",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only check the role this process connects as; exit 1 if it could change "
            "or remove audit entries.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError(f"Database roles are a PostgreSQL matter, not {connection.vendor}.")
        if options["check"]:
            self._check(connection)
            return
        role = options["role"]
        if not ROLE_NAME.match(role):
            raise CommandError(f"{role!r}: use lower-case letters, digits and _ for the role.")
        password = os.environ.get(options["password_env"], "")
        with transaction.atomic(using=connection.alias):
            created = self._grant(connection, role, password)
        self.stdout.write(
            f"{'created' if created else 'refreshed'} role {role}: read and write on the app's "
            f"tables, read and insert only on {', '.join(append_only_tables())}"
        )

    def _grant(self, connection: BaseDatabaseWrapper, role: str, password: str) -> bool:
        raw = connection.cursor().connection  # psycopg's connection, to quote names and values

        def run(statement: str, **parts: Any) -> None:
            composed = sql.SQL(statement).format(role=sql.Identifier(role), **parts)
            with connection.cursor() as cursor:
                cursor.execute(composed.as_string(raw))

        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_schema(), current_database()")
            owner, schema, database = cursor.fetchone()
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
            existing = cursor.fetchone()
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tableowner = %s",
                [schema, role],
            )
            owned = [name for (name,) in cursor.fetchall()]
        if role == owner:
            raise CommandError(
                f"This process connects as {role}: run it as the tables' owner (the migrations' "
                "role), giving the app another role."
            )
        if existing and (existing[0] or existing[1]):
            raise CommandError(
                f"Role {role} is a superuser or bypasses row security: it could disable the "
                f"audit trigger. Use another role, or ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS."
            )
        if owned:
            raise CommandError(
                f"Role {role} owns {', '.join(sorted(owned)[:5])}…: as owner it could disable "
                f"triggers. Run REASSIGN OWNED BY {role} TO {owner} first."
            )
        if not existing and not password:
            raise CommandError(f"Role {role} does not exist: give its password to create it.")

        if not existing:
            run(
                "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                "PASSWORD {password}",
                password=sql.Literal(password),
            )
        elif password:
            run("ALTER ROLE {role} LOGIN PASSWORD {password}", password=sql.Literal(password))
        ids = {"db": sql.Identifier(database), "schema": sql.Identifier(schema)}
        run("GRANT CONNECT ON DATABASE {db} TO {role}", **ids)
        run("GRANT USAGE ON SCHEMA {schema} TO {role}", **ids)
        run("REVOKE CREATE ON SCHEMA {schema} FROM {role}", **ids)
        # From scratch each time, so that a privilege granted by hand does not linger.
        run("REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}", **ids)
        run("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}", **ids)
        run(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}", **ids
        )
        run("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}", **ids)
        # Tables and sequences the owner creates later (the next migrations) get the same.
        run(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            **ids,
        )
        run(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            "GRANT USAGE, SELECT ON SEQUENCES TO {role}",
            **ids,
        )
        for table in append_only_tables():
            run("REVOKE UPDATE, DELETE ON {table} FROM {role}", table=sql.Identifier(table))
        for table in READ_ONLY_TABLES:
            run(
                "REVOKE INSERT, UPDATE, DELETE ON {table} FROM {role}",
                table=sql.Identifier(table),
            )
        return not existing

    def _check(self, connection: BaseDatabaseWrapper) -> None:
        problems: list[str] = []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            )
            user, superuser, bypass = cursor.fetchone()
            if superuser:
                problems.append(f"{user} is a superuser")
            if bypass:
                problems.append(f"{user} bypasses row security")
            for table in append_only_tables():
                cursor.execute(
                    "SELECT tableowner, pg_has_role(current_user, tableowner, 'MEMBER') "
                    "FROM pg_tables WHERE tablename = %s AND schemaname = current_schema()",
                    [table],
                )
                row = cursor.fetchone()
                if row is None:
                    problems.append(f"{table} does not exist (migrate first)")
                    continue
                if row[1]:
                    problems.append(f"{user} owns {table} (or is a member of its owner {row[0]})")
                for privilege in FORBIDDEN_ON_APPEND_ONLY:
                    cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                    if cursor.fetchone()[0]:
                        problems.append(f"{user} has {privilege} on {table}")
        if problems:
            raise CommandError(
                "The app's role could change or remove audit entries: " + "; ".join(problems)
            )
        self.stdout.write(f"ok: {user} can read and add audit entries, not change or remove them")
