"""OpenID Connect sign-on (mozilla-django-oidc), used only when OIDC_RP_CLIENT_ID is set."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.models import User


class NuageOIDCBackend(OIDCAuthenticationBackend):
    """Match the identity provider's user to ours by username; create it on first login."""

    def _username(self, claims: dict[str, Any]) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or "")

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        username = self._username(claims)
        if not username:
            return User.objects.none()
        return User.objects.filter(username__iexact=username)

    def create_user(self, claims: dict[str, Any]) -> User:
        from portal import services

        user = services.user_create(
            created_by=None,
            username=self._username(claims),
            password=None,
            email=str(claims.get("email", "")),
        )
        return user
