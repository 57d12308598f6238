"""Browser views of quotas: bars, limits (platform admins), increase requests and decisions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.errors import ConflictError
from portal.models import User
from quotas import selectors, services
from quotas.choices import RESOURCES, RequestStatus, Resource
from quotas.forms import LimitsForm, QuotaRequestForm
from quotas.usage import bars


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _errors(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for field, errors in (
            exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]
        ):
            label = Resource(field).label if field in RESOURCES else ""
            messages.error(request, (f"{label}: " if label else "") + " ".join(errors))
    else:
        messages.error(request, str(exc))


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = QuotaRequestForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.quota_request_create(
                requested_by=user,
                environment=form.cleaned_data["environment"],
                amounts=form.amounts(),
                reason=form.cleaned_data["reason"],
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                target = f"more_{field}" if field in RESOURCES else field
                form.add_error(target if target in form.fields else None, errs)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Quota request sent to the platform admins."))
            return redirect("quotas:overview")
    quotas = list(selectors.quota_list(fetched_by=user))
    requests = list(selectors.quota_request_list(fetched_by=user)[:200])
    return render(
        request,
        "quotas/overview.html",
        {
            "rows": [
                (q, bars(q), LimitsForm(initial={r: q.limit(r) for r in RESOURCES})) for q in quotas
            ],
            "form": form,
            "requests": requests,
            "pending": [r for r in requests if r.status == RequestStatus.PENDING],
            "resources": [(r, Resource(r).label) for r in RESOURCES],
            "is_platform_admin": user.is_platform_admin,
            "defaults": services.default_limits(),
        },
    )


@login_required
@require_POST
def limits_update(request: HttpRequest, pk: int) -> HttpResponse:
    quota = get_object_or_404(selectors.quota_list(fetched_by=_user(request)), pk=pk)
    form = LimitsForm(request.POST)
    if not form.is_valid():
        for field, errs in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {' '.join(str(e) for e in errs)}")
        return redirect("quotas:overview")
    try:
        services.quota_update(
            updated_by=_user(request),
            quota=quota,
            limits=dict(form.cleaned_data),
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Limits of %(env)s saved.") % {"env": str(quota.environment)})
    return redirect("quotas:overview")


@login_required
@require_POST
def defaults_update(request: HttpRequest) -> HttpResponse:
    form = LimitsForm(request.POST)
    if not form.is_valid():
        for field, errs in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {' '.join(str(e) for e in errs)}")
        return redirect("quotas:overview")
    try:
        services.quota_defaults_update(
            updated_by=_user(request),
            limits=dict(form.cleaned_data),
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Platform defaults saved; new environments get them."))
    return redirect("quotas:overview")


@login_required
@require_POST
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    qr = get_object_or_404(selectors.quota_request_list(fetched_by=user), pk=pk)
    reason = request.POST.get("reason", "")
    try:
        if request.POST.get("decision") == "reject":
            services.quota_request_reject(
                quota_request=qr,
                decided_by=user,
                reason=reason,
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        else:
            granted: dict[str, object] = {}
            for r in qr.asked:
                raw = request.POST.get(f"grant_{r}", "").strip()
                try:
                    granted[r] = int(raw) if raw else 0
                except ValueError:
                    granted[r] = raw
            services.quota_request_approve(
                quota_request=qr,
                decided_by=user,
                granted=granted,
                reason=reason,
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
    except (ValidationError, PermissionDenied, ConflictError) as exc:
        _errors(request, exc)
    else:
        messages.success(
            request,
            _("Request #%(id)s: %(status)s.") % {"id": qr.pk, "status": qr.get_status_display()},
        )
    return redirect("quotas:overview")
