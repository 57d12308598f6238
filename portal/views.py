"""Browser views of the portal itself: personal API tokens, and the locked-out login answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal import selectors, services
from portal.auditlog import AuditFilter, csv_response
from portal.errors import ConflictError
from portal.models import User

TOKEN_LIFETIMES_DAYS = (7, 30, 90, 365)


def locked_out(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """django-axes: too many failed logins for this username from this address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _(
        "Too many failed login attempts. Try again in %(minutes)s minutes, or ask an admin."
    ) % {"minutes": minutes}
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, "registration/login.html", {"locked_out": message}, status=429)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    created: dict[str, object] | None = None
    if request.method == "POST":
        try:
            days = int(request.POST.get("days", "30"))
        except ValueError:
            days = 0
        try:
            if days not in TOKEN_LIFETIMES_DAYS:
                raise ValidationError({"expires_at": _("Choose one of the lifetimes offered.")})
            token, secret = services.token_create(
                user=user,
                name=request.POST.get("name", ""),
                expires_at=timezone.now() + timedelta(days=days),
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except ValidationError as exc:
            for errors in exc.message_dict.values():
                for error in errors:
                    messages.error(request, error)
        else:
            created = {"token": token, "secret": secret}
    return render(
        request,
        "portal/tokens.html",
        {
            "tokens": selectors.token_list(fetched_by=user),
            "created": created,
            "lifetimes": TOKEN_LIFETIMES_DAYS,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    token = get_object_or_404(selectors.token_list(fetched_by=user), pk=pk)
    try:
        services.token_revoke(
            token=token, revoked_by=user, remote_addr=request.META.get("REMOTE_ADDR")
        )
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("tokens")


@login_required
def audit_log(request: HttpRequest) -> HttpResponseBase:
    """The audit log with the API's filters; `?format=csv` downloads the filtered log."""
    entries = AuditFilter(request.GET, queryset=selectors.audit_list(fetched_by=_user(request)))
    if request.GET.get("format") == "csv":
        return csv_response(entries.qs)
    page = Paginator(entries.qs, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/audit.html",
        {"filter": entries, "page": page, "query": query.urlencode()},
    )
