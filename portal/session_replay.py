"""A form sent after the session ended: back to a page to retry it, with what was typed.

A POST that meets the login page (idle logout, expired session) used to come back after login
as a GET of the POST-only address: a 405, and what the user had typed was gone. Instead, the
login sends the user back to the page the form was on (the Referer, when it is one of ours, or
the nearest page above the form's address), and the form's fields (never passwords, secrets or
files) wait in the session; that page puts them back into the form that posts to the same
address and says so (static/js/replay.js). Nothing is sent again without the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

STASH = "nuage_replay"
# Fields never kept: the CSRF token (a new one comes with the page) and anything secret.
_SECRET_WORDS = ("password", "secret", "token", "otp", "code", "private")
_MAX_CHARS = 20_000  # a stash larger than this keeps no fields (the page still comes back)
_MAX_AGE_SECONDS = 3600


def _kept_fields(request: HttpRequest) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name in request.POST:
        lowered = name.lower()
        if name == "csrfmiddlewaretoken" or any(w in lowered for w in _SECRET_WORDS):
            continue
        fields[name] = [str(v) for v in request.POST.getlist(name)]
    if sum(len(k) + sum(len(v) for v in vs) for k, vs in fields.items()) > _MAX_CHARS:
        return {}
    return fields


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def page_to_retry(request: HttpRequest) -> str:
    """A page (GET) to come back to after login, for a POST that could not be done."""
    login_path = urlsplit(resolve_url(settings.LOGIN_URL)).path
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        if parts.path and parts.path != login_path:
            return parts.path + (f"?{parts.query}" if parts.query else "")
    # No usable Referer: the nearest address above the form's that is a page
    # (/vms/5/stop/ -> /vms/5/, /tokens/3/revoke/ -> /tokens/).
    segments = [s for s in request.path.split("/") if s]
    while segments:
        segments.pop()
        candidate = "/" + "".join(f"{s}/" for s in segments)
        if candidate != login_path and _resolves(candidate):
            return candidate
    return "/"


class SessionReplayMiddleware:
    """Turns "POST, then login, then GET of the POST address" into "login, then the page"."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method != "POST" or request.path.startswith(("/api/", "/admin/")):
            return response
        if response.status_code != 302 or getattr(request, "user", None) is None:
            return response
        if request.user.is_authenticated:
            return response
        login_path = urlsplit(resolve_url(settings.LOGIN_URL)).path
        if urlsplit(response["Location"]).path != login_path:
            return response
        back = page_to_retry(request)
        request.session[STASH] = {
            "back": urlsplit(back).path,
            "action": request.path,
            "fields": _kept_fields(request),
            "at": int(time.time()),
        }
        messages.warning(
            request,
            _(
                "Your session had ended, so what you sent was not done. Log in again: you will "
                "be back on the page, with what you had typed, to send it again."
            ),
        )
        return redirect_to_login(back)


def replay(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the stashed form for the page it belongs to (taken out once shown)."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or user is None or not user.is_authenticated or STASH not in session:
        return {}
    stash = session[STASH]
    if not isinstance(stash, dict) or stash.get("back") != request.path:
        return {}
    del session[STASH]
    if int(time.time()) - int(stash.get("at", 0)) > _MAX_AGE_SECONDS:
        return {}
    return {"replay_form": {"action": stash.get("action", ""), "fields": stash.get("fields", {})}}
