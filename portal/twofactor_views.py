"""Pages of two-factor sign-in: set up an authenticator, and the code asked after the password."""

from __future__ import annotations

from base64 import b32encode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from portal import twofactor
from portal.models import User
from portal.security import client_ip
from portal.views import locked_out


def _next(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return "/"


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator (QR code and secret, then a code), or manage the one you have."""
    user: User = request.user  # type: ignore[assignment]
    enrolled = twofactor.has_device(user)
    recovery_codes: list[str] | None = None
    errors: list[str] = []
    action = request.POST.get("action", "") if request.method == "POST" else ""
    try:
        if action == "confirm":
            recovery_codes = twofactor.totp_enrol_confirm(
                user=user, code=request.POST.get("code", ""), remote_addr=client_ip(request)
            )
            twofactor.session_mark_verified(request)
            enrolled = True
            messages.success(request, _("Two-factor sign-in is on."))
        elif action == "recovery" and enrolled:
            recovery_codes = twofactor.recovery_codes_renew(
                user=user, remote_addr=client_ip(request)
            )
        elif action == "disable" and enrolled:
            twofactor.two_factor_disable(
                user=user, disabled_by=user, remote_addr=client_ip(request)
            )
            request.session[twofactor.HAS_DEVICE] = False
            request.session.pop(twofactor.VERIFIED, None)
            messages.success(request, _("Two-factor sign-in is off."))
            return redirect("two-factor")
        elif action == "replace" and enrolled:
            enrolled = False  # shows the set-up of a new one; the old one works until confirmed
    except ValidationError as exc:
        errors = [str(m) for m in exc.messages]
    except PermissionDenied as exc:
        errors = [str(exc)]
    context: dict[str, object] = {
        "enrolled": enrolled,
        "required": twofactor.required_for(user),
        "recovery_codes": recovery_codes,
        "errors": errors,
        "next": _next(request),
    }
    if not enrolled:
        device = twofactor.totp_enrol_begin(user=user)
        secret = b32encode(device.bin_key).decode()
        context.update(
            qr_svg=twofactor.qr_svg(device.config_url),
            secret=_grouped(secret),
            config_url=device.config_url,
        )
    elif recovery_codes is None:
        context["recovery_left"] = sum(
            d.token_set.count() for d in twofactor.StaticDevice.objects.filter(user=user)
        )
    return render(request, "portal/two_factor.html", context, status=400 if errors else 200)


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    user: User = request.user  # type: ignore[assignment]
    if twofactor.session_state(request) != "verify":
        return redirect(_next(request))
    error = ""
    if request.method == "POST":
        if twofactor.code_check(user=user, code=request.POST.get("code", "")):
            twofactor.session_mark_verified(request)
            return redirect(_next(request))
        twofactor.code_failed(request, user)
        if twofactor.locked_out(request, user):
            logout(request)
            return locked_out(request)
        error = _("This code does not match (or you tried too often: wait a little).")
    return render(
        request,
        "portal/two_factor_verify.html",
        {"error": error, "next": _next(request)},
        status=400 if error else 200,
    )
