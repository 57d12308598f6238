"""Property-based fuzzing of the whole API from its OpenAPI schema (schemathesis), as a platform
admin against a live server: no answer may be a server error or disagree with the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from portal import services
from tests.conftest import make_world

# Operations left out, and why:
EXCLUDED_PATHS = [
    "/api/v1/auth/token/",  # password guessing would lock the account (django-axes)
]
EXCLUDED_OPERATIONS = [
    ("POST", "/api/v1/hosts/"),  # would dial random libvirt URIs (ssh, tcp) and wait on them
]


@pytest.fixture
def api_schema(transactional_db, live_server, sim_host, flavor, image, client):
    world = make_world("fuzz")
    client.force_login(world.platform_admin)
    raw = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    _token, secret = services.token_create(user=world.platform_admin, name="fuzz")
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=live_server.url, headers={"Authorization": f"Token {secret}"})
    for path in EXCLUDED_PATHS:
        schema = schema.exclude(path=path)
    for method, path in EXCLUDED_OPERATIONS:
        schema = schema.exclude(method=method, path=path)
    return schema


def test_api_never_fails_and_matches_its_schema(api_schema):
    """Every operation, a dozen generated requests each (one test: the schema needs the DB)."""
    checks = [not_a_server_error, response_schema_conformance]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40, "the schema lost operations"
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=checks)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
