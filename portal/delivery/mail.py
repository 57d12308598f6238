"""E-mail delivery: each recipient gets the message composed in their own language."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation

from portal.models import Membership, Tenant, User
from portal.permissions import ROLE_PERMS, Perm

# Composes (subject, body) for one recipient, called under that recipient's language.
Compose = Callable[[User], tuple[str, str]]


def tenant_recipients(
    tenant: Tenant, perm: Perm, *, but: int | None = None, with_email: bool = True
) -> list[User]:
    """The tenant's active members whose role grants `perm` and who have an address (any, with
    `with_email=False`: in-app notifications), but the user `but`."""
    roles = [role for role, perms in ROLE_PERMS.items() if perm in perms]
    return [
        m.user
        for m in Membership.objects.unscoped()
        .select_related("user")
        .filter(tenant=tenant, role__in=roles)
        if (m.user.email or not with_email) and m.user.is_active and m.user_id != but
    ]


def link(path: str) -> str:
    """An absolute link to a page of Nuage, for the body of an e-mail."""
    return f"{settings.NUAGE['BASE_URL'].rstrip('/')}{path}"


def send(recipients: Iterable[User], compose: Compose) -> int:
    """One e-mail per recipient with an address; returns how many were sent."""
    sent = 0
    for user in recipients:
        if not user.email:
            continue
        # In the recipient's language when we know it (the e-mail is read later, elsewhere).
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            subject, body = compose(user)
        sent += send_mail(subject, body, None, [user.email], fail_silently=False)
    return sent
