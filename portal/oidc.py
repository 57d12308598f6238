"""OpenID Connect sign-on (mozilla-django-oidc), used only when OIDC_RP_CLIENT_ID is set.

A provider's identity is its (issuer, subject) pair, kept in OidcIdentity. The first sign-on of
an identity links it to a Nuage user once: a user whose e-mail the provider says it verified,
if that user signs in by single sign-on only (no usable password, no platform role), or else a
new user. It never links by username or by an unverified e-mail: either would let anyone who
can choose that name or address at the provider take over the account.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.audit import audit_record
from portal.choices import PlatformRole
from portal.models import OidcIdentity, User

logger = logging.getLogger(__name__)


class OidcRefused(Exception):
    """Sign-on refused; the message is shown to the person signing in."""


def _sso_only(user: User) -> bool:
    """Whether an account may be reached by single sign-on at all."""
    return not user.has_usable_password() and not (
        user.is_superuser or user.platform_role != PlatformRole.NONE
    )


def _refuse_reason(user: User) -> str:
    if user.has_usable_password():
        return _(
            "An account with this e-mail address already exists and signs in with a password: "
            "single sign-on cannot be linked to it. Log in with your password, or ask an admin."
        )
    return _(
        "This account has a platform role: it signs in with its password only, not with "
        "single sign-on."
    )


def _free_username(wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`...: an existing user is never taken over by name."""
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


@transaction.atomic
def oidc_sign_in(
    *,
    issuer: str,
    subject: str,
    claims: dict[str, Any],
    create: bool = True,
    remote_addr: str | None = None,
) -> User:
    """The user signing in as (issuer, subject); links or creates one the first time.

    Raises OidcRefused with a message for the person when the identity may not sign in.
    """
    from portal import services

    if not issuer or not subject:
        raise OidcRefused(_("The identity provider gave no issuer or subject."))
    identity = (
        OidcIdentity.objects.unscoped()
        .select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        linked = identity.user
        if not linked.is_active:
            raise OidcRefused(_("This account is disabled."))
        if not _sso_only(linked):
            # Linked before it was given a password or a platform role: those sign in otherwise.
            raise OidcRefused(_refuse_reason(linked))
        identity.last_login_at = timezone.now()
        identity.save(update_fields=["last_login_at"])
        return linked

    email = str(claims.get("email") or "").strip()
    verified = claims.get("email_verified") is True and bool(email)
    user: User | None = None
    if verified:
        candidates = list(User.objects.filter(email__iexact=email, is_active=True)[:2])
        if len(candidates) > 1:
            raise OidcRefused(
                _("Several accounts have this e-mail address: ask an admin to link yours.")
            )
        if candidates:
            user = candidates[0]
            if not _sso_only(user):
                raise OidcRefused(_refuse_reason(user))
            if OidcIdentity.objects.unscoped().filter(user=user, issuer=issuer).exists():
                raise OidcRefused(
                    _("This account is already linked to another identity of this provider.")
                )
    if user is None:
        if not create:
            raise OidcRefused(_("No account is linked to this identity: ask an admin."))
        claim = getattr(settings, "OIDC_USERNAME_CLAIM", "preferred_username")
        wanted = str(claims.get(claim) or "")
        user = services.user_create(
            created_by=None,
            username=_free_username(wanted or (email.split("@")[0] if email else "")),
            password=None,
            # Only an address the provider verified: notifications must reach the person.
            email=email if verified else "",
            remote_addr=remote_addr,
        )
    identity = OidcIdentity.objects.create(
        issuer=issuer, subject=subject, user=user, last_login_at=timezone.now()
    )
    audit_record(
        actor=user,
        action="oidc.link",
        obj=user,
        changes={"issuer": issuer, "subject": subject},
        remote_addr=remote_addr,
    )
    return user


class NuageOIDCBackend(OIDCAuthenticationBackend):
    """Finds the user by the ID token's (issuer, subject), through portal.oidc.oidc_sign_in."""

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        issuer = str(payload.get("iss") or "")
        subject = str(payload.get("sub") or "")
        expected = getattr(settings, "OIDC_OP_ISSUER", "")
        if expected and issuer != expected:
            raise SuspiciousOperation("ID token from an unexpected issuer")
        claims = dict(self.get_userinfo(access_token, id_token, payload) or {})
        if str(claims.get("sub", subject)) != subject:
            # OpenID Connect Core 5.3.2: the UserInfo answer is about the token's subject.
            raise SuspiciousOperation("UserInfo subject differs from the ID token's")
        request = getattr(self, "request", None)
        try:
            return oidc_sign_in(
                issuer=issuer,
                subject=subject,
                claims=claims,
                create=bool(self.get_settings("OIDC_CREATE_USER", True)),
                remote_addr=request.META.get("REMOTE_ADDR") if request is not None else None,
            )
        except OidcRefused as exc:
            logger.warning("OIDC sign-on of %s %s refused: %s", issuer, subject, exc)
            if request is not None:
                messages.error(request, str(exc))
            return None

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        # Never used (get_or_create_user above does not call it); kept empty so that no other
        # path can match a user by its claims.
        return User.objects.none()
