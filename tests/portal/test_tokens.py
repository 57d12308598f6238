"""Personal API tokens: shown once, hashed, listed per user, expiring, revocable; login lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal import services
from portal.models import ApiToken
from tests.test_api import client_for

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_token_secret_is_shown_once_and_only_its_hash_is_kept(world):
    me = client_for(world.member)
    created = me.post(
        "/api/v1/tokens/",
        {"name": "ci", "expires_at": (timezone.now() + timedelta(days=10)).isoformat()},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["token"]
    stored = ApiToken.objects.get(pk=created.json()["id"])
    assert secret not in (stored.secret_hash, stored.prefix) and secret.startswith(stored.prefix)
    listed = me.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert "token" not in me.get(f"/api/v1/tokens/{stored.pk}/").json()
    assert with_token(secret).get("/api/v1/vms/").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_tokens_are_private_to_their_owner(world):
    _mine, _secret = services.token_create(user=world.member, name="mine")
    theirs, _ = services.token_create(user=world.approver, name="theirs")
    admin = client_for(world.platform_admin)
    assert admin.get("/api/v1/tokens/").json()["results"] == []
    assert client_for(world.member).get(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    assert client_for(world.member).delete(f"/api/v1/tokens/{theirs.pk}/").status_code == 404


def test_revoked_and_expired_tokens_get_401_with_the_reason(world):
    revoked, revoked_secret = services.token_create(user=world.member, name="old")
    expired, expired_secret = services.token_create(user=world.member, name="short")
    assert client_for(world.member).delete(f"/api/v1/tokens/{revoked.pk}/").status_code == 204
    assert client_for(world.member).delete(f"/api/v1/tokens/{revoked.pk}/").status_code == 409
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    answer = with_token(revoked_secret).get("/api/v1/vms/")
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    answer = with_token(expired_secret).get("/api/v1/vms/")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    answer = with_token("not-a-token-at-all").get("/api/v1/vms/")
    assert answer.status_code == 401 and answer.json()["detail"] == "Invalid token."
    world.member.is_active = False
    world.member.save()
    _, secret = services.token_create(user=world.member, name="disabled user")
    assert with_token(secret).get("/api/v1/vms/").status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_bad_token_requests_get_field_messages(world, payload, field):
    answer = client_for(world.member).post("/api/v1/tokens/", payload, format="json")
    assert answer.status_code == 400 and field in answer.json(), answer.content
    assert not ApiToken.objects.exists()


def test_login_endpoint_gives_an_expiring_token_and_locks_out_guessers(world, settings):
    anonymous = APIClient()
    good = {"username": world.member.username, "password": PASSWORD}
    answer = anonymous.post("/api/v1/auth/token/", good, format="json")
    assert answer.status_code == 200
    assert set(answer.json()) == {"token", "expires_at"}
    assert ApiToken.objects.get(user=world.member).name == "api login"

    wrong = {**good, "password": "guess"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert anonymous.post("/api/v1/auth/token/", wrong, format="json").status_code == 400
    locked = anonymous.post("/api/v1/auth/token/", wrong, format="json")
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.json()["detail"]
    # Locked out even with the right password now, until the cool-off ends.
    assert anonymous.post("/api/v1/auth/token/", good, format="json").status_code == 429


def test_login_form_locks_out_too(world, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": world.member.username, "password": "guess"})
    page = client.post("/login/", {"username": world.member.username, "password": PASSWORD})
    assert page.status_code == 429
    assert "Too many failed login attempts" in page.content.decode()


def test_tokens_page_creates_shows_once_and_revokes(world, client):
    client.force_login(world.member)
    page = client.post("/tokens/", {"name": "laptop", "days": "30"}).content.decode()
    token = ApiToken.objects.get(name="laptop")
    assert 'id="token-secret"' in page and "shown this once only" in page
    assert 'id="token-secret"' not in client.get("/tokens/").content.decode()
    assert token.expires_at - timezone.now() > timedelta(days=29)
    bad = client.post("/tokens/", {"name": "x", "days": "9999"}, follow=True).content.decode()
    assert "Choose one of the lifetimes offered." in bad
    client.post(f"/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_token_read_written_out_is_the_orms(world):
    """Every API call reads its token with a statement written out (portal.services); it gives
    the very instances the ORM's select_related query gives, user included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token, secret = services.token_create(user=world.member, name="one")
    prefix = secret[: services.TOKEN_PREFIX_LENGTH]
    orm = list(ApiToken.objects.unscoped().select_related("user").filter(prefix=prefix))
    with CaptureQueriesContext(connection) as ctx:
        found = services._tokens_with_prefix(prefix)
        assert [t.user.username for t in found] == [world.member.username]
    assert len(ctx.captured_queries) == 1
    assert [t.__dict__.keys() - {"_state"} for t in found] == [
        t.__dict__.keys() - {"_state"} for t in orm
    ]
    for mine, theirs in zip(found, orm, strict=True):
        assert {k: v for k, v in vars(mine).items() if k != "_state"} == {
            k: v for k, v in vars(theirs).items() if k != "_state"
        }
        assert {k: v for k, v in vars(mine.user).items() if k != "_state"} == {
            k: v for k, v in vars(theirs.user).items() if k != "_state"
        }
        assert mine._state.adding is False and mine._state.db == "default"
    assert services._tokens_with_prefix("nothing!") == []
