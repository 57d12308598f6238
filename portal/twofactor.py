"""Two-factor sign-in with TOTP (django-otp): required for platform roles, optional for others.

A session counts as verified once its user typed a code from their authenticator (or a recovery
code) after the password, or just confirmed a new authenticator. Until then, a user who has an
authenticator is sent to the code page, and a platform admin or finance user without one to the
enrolment page, whatever they asked for (TwoFactorMiddleware); session-authenticated API calls
are refused (portal.api.authentication.VerifiedSessionAuthentication). API tokens are the
second-factor equivalent: the token login asks for the code too, and the tokens page needs a
verified session. docs/operations.md, "Two-factor sign-in", has the rules.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from io import BytesIO
from typing import Any, Literal

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit import audit_record
from portal.choices import PlatformRole
from portal.models import User

# Session keys: whether this session passed the second step, and (cached at login, so that
# pages cost no extra query) whether its user has a confirmed authenticator.
VERIFIED = "nuage_2fa_verified"
HAS_DEVICE = "nuage_2fa_device"
RECOVERY_CODES = 10
DEVICE_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"

State = Literal["ok", "verify", "enrol"]


def required_for(user: User) -> bool:
    """Platform roles (platform admins, finance, superusers) must use a second factor."""
    return bool(user.is_superuser or user.platform_role != PlatformRole.NONE)


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def session_state(request: HttpRequest) -> State:
    """What the signed-in user of this session still has to do: nothing, a code, or enrol."""
    session = request.session
    if session.get(VERIFIED):
        return "ok"
    user: User = request.user  # type: ignore[assignment]
    enrolled = session.get(HAS_DEVICE)
    if enrolled is None:  # a session from before two-factor existed
        enrolled = session[HAS_DEVICE] = has_device(user)
    if enrolled:
        return "verify"
    return "enrol" if required_for(user) else "ok"


def satisfied(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return True
    return session_state(request) == "ok"


def session_mark_verified(request: HttpRequest) -> None:
    # A new session key once the second factor is in: a key seen before it is worth nothing.
    request.session.cycle_key()
    request.session[VERIFIED] = True
    request.session[HAS_DEVICE] = True


def on_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """user_logged_in (password, SSO, admin login): the second step starts over."""
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(VERIFIED, None)
    request.session[HAS_DEVICE] = has_device(user)


# --- services ---------------------------------------------------------------------------------


@transaction.atomic
def totp_enrol_begin(*, user: User) -> TOTPDevice:
    """The authenticator being set up (not yet confirmed): the same one until it is confirmed,
    so that reloading the page does not change the QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [secrets.token_hex(5) for _n in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def totp_enrol_confirm(*, user: User, code: str, remote_addr: str | None = None) -> list[str]:
    """Confirms the authenticator being set up with a code it shows; returns the recovery codes
    (shown this once). A previous authenticator and its recovery codes stop working."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("id")
        .first()
    )
    if device is None:
        raise ValidationError({"code": _("Start the set-up again: no authenticator is pending.")})
    if not device.verify_token(code.strip().replace(" ", "")):
        raise ValidationError(
            {"code": _("This code does not match: check the clock of your device and try again.")}
        )
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk)
    was_enrolled = replaced.exists()
    replaced.delete()
    TOTPDevice.objects.filter(user=user, confirmed=False).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    audit_record(
        actor=user,
        action="two_factor.enable",
        obj=user,
        changes={"method": "totp", "replaced": was_enrolled, "recovery_codes": len(codes)},
        remote_addr=remote_addr,
    )
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: User, remote_addr: str | None = None) -> list[str]:
    """New recovery codes for an enrolled user; the old ones stop working."""
    if not has_device(user):
        raise ValidationError(_("Set up an authenticator first."))
    codes = _new_recovery_codes(user)
    audit_record(
        actor=user,
        action="two_factor.recovery_codes",
        obj=user,
        changes={"recovery_codes": len(codes)},
        remote_addr=remote_addr,
    )
    return codes


@transaction.atomic
def two_factor_disable(
    *, user: User, disabled_by: User | None, remote_addr: str | None = None
) -> None:
    """Removes a user's authenticator and recovery codes.

    Users without a platform role may turn their own off; a platform admin may reset anyone's
    (a lost phone), after which a platform role enrols again at its next sign-in.
    `disabled_by` None is an operator's command (manage.py two_factor_reset).
    """
    if disabled_by is not None:
        if disabled_by.pk == user.pk and required_for(user):
            raise PermissionDenied(
                _(
                    "Your role requires two-factor sign-in: you can replace your authenticator, "
                    "not turn it off."
                )
            )
        if disabled_by.pk != user.pk and not disabled_by.is_platform_admin:
            raise PermissionDenied(_("Only platform admins can reset another user's sign-in."))
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    StaticDevice.objects.filter(user=user).delete()
    if removed:
        audit_record(
            actor=disabled_by,
            action="two_factor.disable",
            obj=user,
            changes={"by": disabled_by.username if disabled_by else "manage.py"},
            remote_addr=remote_addr,
        )


def code_check(*, user: User, code: str) -> bool:
    """Whether `code` is the user's current TOTP code or an unused recovery code (which it then
    uses up). Each device slows repeated failures down (django-otp's throttling)."""
    code = code.strip().replace(" ", "").replace("-", "")
    if not code:
        return False
    device = confirmed_device(user)
    if device is None:
        return False
    if code.isdigit() and len(code) == device.digits:
        return bool(device.verify_token(code))
    static = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return bool(static is not None and static.verify_token(code.lower()))


def code_failed(request: HttpRequest | None, user: User) -> None:
    """A wrong code counts as a failed login for django-axes (same username and address)."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


def locked_out(request: HttpRequest, user: User) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return bool(AxesProxyHandler.is_locked(request, {"username": user.get_username()}))


def qr_svg(text: str) -> str:
    """An inline SVG of the QR code of `text` (drawn here: nothing goes over the network)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]


# --- middleware -------------------------------------------------------------------------------

# Reachable before the second step: signing in and out, the second step itself, the language,
# the operators' probes. /api/ answers for itself (JSON, not a redirect).
_OPEN_PREFIXES = ("/login/", "/logout/", "/i18n/", "/api/", "/oidc/", "/static/")
_OPEN_PATHS = ("/healthz", "/readyz", "/metrics")


class TwoFactorMiddleware:
    """Sends a signed-in user who still owes the second step to it, before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        path = request.path
        if path.startswith(_OPEN_PREFIXES) or path in _OPEN_PATHS:
            return self.get_response(request)
        state = session_state(request)
        if state == "ok":
            return self.get_response(request)
        target = reverse("two-factor-verify" if state == "verify" else "two-factor")
        if path == target:
            return self.get_response(request)
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
