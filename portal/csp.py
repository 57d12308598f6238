"""Content-Security-Policy: scripts only from Nuage's own files, no inline handler or block.

Every page's behaviour lives in static/js (event handlers bound from data- attributes, see
static/js/forms.js); the header makes an injected `<script>` or `onclick=` inert. Styles allow
'unsafe-inline': xterm.js (the serial console) writes its own <style> elements and the meters set
their width in a style attribute; a style cannot run code. `connect-src 'self'` covers the
consoles' websockets to the same host (ws: and wss:); NUAGE_CONSOLE_URL adds a separate one.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def policy() -> str:
    connect = ["'self'"]
    console = str(settings.NUAGE.get("CONSOLE_URL", "") or "")
    if console:
        connect.append(console)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        # data: for noVNC's cursor and Swagger UI's icons.
        "img-src": ["'self'", "data:"],
        "connect-src": connect,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every answer that has none (NUAGE_CSP_REPORT_ONLY: report only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = (
            "Content-Security-Policy-Report-Only"
            if settings.NUAGE.get("CSP_REPORT_ONLY")
            else HEADER
        )
        self.value = policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header not in response:
            response[self.header] = self.value
        return response
