"""Single sign-on links accounts by the provider's (issuer, subject), never by name or address."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import SuspiciousOperation

from portal.choices import PlatformRole
from portal.models import AuditEntry, OidcIdentity, User
from portal.oidc import NuageOIDCBackend, OidcRefused, oidc_sign_in
from tests.factories import UserFactory

ISSUER = "https://idp.example.test/realms/nuage"


def sso_only_user(username: str, email: str) -> User:
    user = UserFactory(username=username, email=email)
    user.set_unusable_password()
    user.save()
    return user


@pytest.mark.django_db
def test_first_sign_on_creates_a_user_and_the_next_finds_it_by_subject() -> None:
    claims = {"preferred_username": "carol", "email": "carol@example.test", "email_verified": True}
    user = oidc_sign_in(issuer=ISSUER, subject="sub-1", claims=claims)
    assert user.username == "carol"
    assert not user.has_usable_password()
    # The provider now says another name and address: still the same account.
    again = oidc_sign_in(
        issuer=ISSUER, subject="sub-1", claims={"preferred_username": "mallory", "email": "m@x"}
    )
    assert again == user
    assert AuditEntry.objects.filter(action="oidc.link", object_id=str(user.pk)).count() == 1


@pytest.mark.django_db
def test_same_username_at_the_provider_never_takes_over_an_existing_account() -> None:
    alice = sso_only_user("alice", "alice@corp.test")
    user = oidc_sign_in(
        issuer=ISSUER,
        subject="attacker",
        claims={"preferred_username": "alice", "email": "evil@x.test", "email_verified": True},
    )
    assert user != alice
    assert user.username == "alice-2"
    assert not OidcIdentity.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_unverified_email_is_neither_linked_nor_kept() -> None:
    alice = sso_only_user("alice", "alice@corp.test")
    user = oidc_sign_in(
        issuer=ISSUER,
        subject="s2",
        claims={"preferred_username": "x", "email": "alice@corp.test", "email_verified": False},
    )
    assert user != alice
    assert user.email == ""


@pytest.mark.django_db
def test_verified_email_links_an_sso_only_account() -> None:
    alice = sso_only_user("alice", "alice@corp.test")
    user = oidc_sign_in(
        issuer=ISSUER,
        subject="s3",
        claims={"preferred_username": "a", "email": "ALICE@corp.test", "email_verified": True},
    )
    assert user == alice
    assert OidcIdentity.objects.get(issuer=ISSUER, subject="s3").user == alice


@pytest.mark.django_db
def test_account_with_a_password_is_never_linked() -> None:
    bob = UserFactory(username="bob", email="bob@corp.test")  # has a password
    with pytest.raises(OidcRefused, match="signs in with a password"):
        oidc_sign_in(
            issuer=ISSUER, subject="s4", claims={"email": "bob@corp.test", "email_verified": True}
        )
    assert not OidcIdentity.objects.exists()
    assert User.objects.filter(email__iexact="bob@corp.test").get() == bob


@pytest.mark.django_db
def test_account_with_a_platform_role_is_never_linked_nor_signed_in() -> None:
    admin = sso_only_user("root", "root@corp.test")
    admin.platform_role = PlatformRole.ADMIN
    admin.save()
    with pytest.raises(OidcRefused, match="platform role"):
        oidc_sign_in(
            issuer=ISSUER, subject="s5", claims={"email": "root@corp.test", "email_verified": True}
        )
    # Linked earlier, given a platform role since: single sign-on stops working for it.
    carol = oidc_sign_in(issuer=ISSUER, subject="s6", claims={"preferred_username": "carol"})
    carol.platform_role = PlatformRole.FINANCE
    carol.save()
    with pytest.raises(OidcRefused, match="platform role"):
        oidc_sign_in(issuer=ISSUER, subject="s6", claims={})


@pytest.mark.django_db
def test_same_subject_of_another_issuer_is_another_identity() -> None:
    one = oidc_sign_in(issuer=ISSUER, subject="42", claims={"preferred_username": "u"})
    two = oidc_sign_in(issuer="https://other.test", subject="42", claims={})
    assert one != two


class FakeProvider(NuageOIDCBackend):
    """The backend with the provider's UserInfo answer given, instead of fetched."""

    userinfo: dict[str, Any] = {}

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        return self.userinfo


@pytest.fixture
def oidc_settings(settings: Any) -> Any:
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.test/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.test/userinfo"
    settings.OIDC_RP_CLIENT_ID = "nuage"
    settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_USERNAME_CLAIM = "preferred_username"
    settings.OIDC_OP_ISSUER = ISSUER
    return settings


@pytest.mark.django_db
def test_backend_uses_the_id_tokens_issuer_and_subject(oidc_settings: Any) -> None:
    backend = FakeProvider()
    backend.request = None
    backend.userinfo = {"sub": "abc", "preferred_username": "dora"}
    user = backend.get_or_create_user("at", "it", {"iss": ISSUER, "sub": "abc"})
    assert user is not None and user.username == "dora"
    assert OidcIdentity.objects.get(user=user).subject == "abc"
    backend.userinfo = {"sub": "someone-else"}
    with pytest.raises(SuspiciousOperation):
        backend.get_or_create_user("at", "it", {"iss": ISSUER, "sub": "abc"})
    with pytest.raises(SuspiciousOperation):
        backend.get_or_create_user("at", "it", {"iss": "https://evil.test", "sub": "abc"})


@pytest.mark.django_db
def test_backend_refusal_is_no_login(oidc_settings: Any) -> None:
    UserFactory(username="bob", email="bob@corp.test")
    backend = FakeProvider()
    backend.request = None
    backend.userinfo = {"sub": "b", "email": "bob@corp.test", "email_verified": True}
    assert backend.get_or_create_user("at", "it", {"iss": ISSUER, "sub": "b"}) is None
    assert backend.filter_users_by_claims({"preferred_username": "bob"}).count() == 0
