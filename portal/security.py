"""Who is asking and for how long: the client address behind trusted proxies, session idle time.

The client address is REMOTE_ADDR unless NUAGE_TRUSTED_PROXY_COUNT says how many proxies of
ours stand in front of Nuage: then it is the address the outermost of them saw, read from the
right of X-Forwarded-For (entries further left are whatever the client chose to send). The
same rule serves the audit log, django-axes' lock-out and DRF's throttles (NUM_PROXIES).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

# Set on every request that counts as activity; read to decide whether the session idled out.
LAST_SEEN = "nuage_last_seen"


def client_ip(request: Any) -> str | None:
    """The client's address, trusting X-Forwarded-For only as far as our own proxies."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR")
    proxies = int(settings.NUAGE.get("TRUSTED_PROXY_COUNT", 0))
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]


def axes_client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: failed logins are counted per real client, not per proxy."""
    return client_ip(request)


def session_started(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """user_logged_in: a new session starts active (no extra write on its first request)."""
    if hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


class SessionIdleTimeoutMiddleware:
    """Logs out a browser session idle longer than SESSION_IDLE_TIMEOUT_SECONDS.

    Live regions' background refreshes (X-Requested-With: live) are not activity: a tab left
    open must not keep a session alive for ever. The time seen is written at most every minute.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = int(getattr(settings, "SESSION_IDLE_TIMEOUT_SECONDS", 0) or 0)
        session = getattr(request, "session", None)
        if timeout > 0 and session is not None and SESSION_KEY in session:
            now = int(time.time())
            last = session.get(LAST_SEEN)
            background = request.headers.get("X-Requested-With") == "live"
            if last is not None and now - int(last) > timeout:
                logout(request)
                if not background and not request.path.startswith("/api/"):
                    messages.info(request, _("You were logged out after a while without activity."))
                    return redirect_to_login(request.get_full_path())
            elif not background and (last is None or now - int(last) >= min(60, timeout // 2)):
                session[LAST_SEEN] = now
        return self.get_response(request)
