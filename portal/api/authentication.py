"""`Authorization: Token <secret>` with Nuage's personal tokens (hashed, expiring, revocable)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from portal import services, twofactor


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: expected 'Token <secret>'."
            )
        try:
            secret = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        try:
            return services.token_authenticate(secret)
        except ValueError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """The browser's session, once it passed the second step of signing in (portal.twofactor):
    a session still owing a code, or a platform role's still owing an authenticator, is refused
    rather than taken for its user."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None and not twofactor.satisfied(request._request):
            raise exceptions.AuthenticationFailed(
                "Two-factor sign-in is not finished in this session: enter your code in the "
                "browser first, or use an API token."
            )
        return result


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes the token header (drf-spectacular finds it by class path)."""

    target_class = "portal.api.authentication.PersonalTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API token: `Token <secret>` (POST /api/v1/auth/token/).",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    """The session cookie, as drf-spectacular describes Django's own session authentication."""

    target_class = "portal.api.authentication.VerifiedSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
