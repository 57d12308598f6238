"""Browser views of the portal itself: personal API tokens, and the locked-out login answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal import notifications, selectors, services
from portal.audit_labels import action_choices
from portal.auditlog import AuditFilter, csv_response
from portal.choices import Role
from portal.errors import ConflictError
from portal.forms import TenantBillingForm
from portal.models import PolicyChange, Tenant, User
from portal.permissions import Perm, has_perm
from portal.scoping import sees_all_tenants
from portal.security import client_ip
from portal.tenancy import current_tenant, current_tenant_set

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
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password: the old one, then the new one twice (validators apply)."""
    user = _user(request)
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and user.has_usable_password() and form.is_valid():
        services.user_password_set(
            user=user, password=form.cleaned_data["new_password1"], remote_addr=client_ip(request)
        )
        update_session_auth_hash(request, user)  # this session stays; the others end
        messages.success(request, _("Your password was changed."))
        return redirect("password-change")
    return render(
        request,
        "portal/password.html",
        {"form": form, "sso_only": not user.has_usable_password()},
        status=400 if form.errors else 200,
    )


@login_required
def keypair_list(request: HttpRequest) -> HttpResponse:
    """Your SSH public keys: add one (pasted), delete one."""
    user = _user(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        addr = request.META.get("REMOTE_ADDR")
        if request.POST.get("do") == "delete":
            pair = get_object_or_404(
                selectors.keypair_list(fetched_by=user), pk=request.POST.get("key_pair") or 0
            )
            services.keypair_delete(key_pair=pair, deleted_by=user, remote_addr=addr)
            messages.success(request, _("Key %(name)s deleted.") % {"name": pair.name})
            return redirect("keypairs")
        try:
            pair = services.keypair_create(
                owner=user,
                name=request.POST.get("name", ""),
                public_key=request.POST.get("public_key", ""),
                remote_addr=addr,
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(
                request,
                _("Key %(name)s added (%(fingerprint)s).")
                % {"name": pair.name, "fingerprint": pair.fingerprint},
            )
            return redirect("keypairs")
    return render(
        request,
        "portal/keypairs.html",
        {
            "key_pairs": selectors.keypair_list(fetched_by=user),
            "errors": errors,
            "posted": request.POST if errors else {},
        },
        status=400 if errors else 200,
    )


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
        {
            "filter": entries,
            "page": page,
            "query": query.urlencode(),
            "action_choices": action_choices(),
        },
    )


# --- tenants: the switcher, members and environments --------------------------------------


@login_required
@require_POST
def tenant_switch(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    pk = request.POST.get("tenant") or None
    tenant = selectors.tenant_list(fetched_by=user).filter(pk=pk).first() if pk else None
    if pk and tenant is None:
        raise Http404
    if tenant is None and not sees_all_tenants(user):
        raise Http404
    current_tenant_set(request, tenant)
    target = request.POST.get("next", "/")
    return redirect(target if url_has_allowed_host_and_scheme(target, None) else "/")


@login_required
def tenant_page(request: HttpRequest) -> HttpResponse:
    """The current tenant: its members and environments, editable by its admins."""
    user = _user(request)
    tenant = current_tenant(request)
    if tenant is None:
        messages.info(request, _("Choose a tenant in the header to see its members."))
        return redirect("ui:vm-list")
    if request.method == "POST":
        _tenant_change(request, tenant)
        return redirect("tenant")
    memberships = list(
        selectors.membership_list(fetched_by=user).filter(tenant=tenant).select_related("user")
    )
    visible = selectors.user_email_visible_ids(fetched_by=user)
    for membership in memberships:
        # The API's rule: a fellow member's address is for the tenant's admins only.
        membership.shown_email = (  # type: ignore[attr-defined]
            membership.user.email if visible is None or membership.user_id in visible else ""
        )
    return render(
        request,
        "portal/tenant.html",
        {
            "tenant": tenant,
            "memberships": memberships,
            # Plain members get no e-mail column at all (only their own address would be in it).
            "sees_emails": visible is None
            or any(m.user_id in visible for m in memberships if m.user_id != user.pk),
            # Set by the invitation just made (see _tenant_change), shown on this page once.
            "new_invitation": _new_invitation_pop(request, user, tenant),
            "environments": selectors.environment_list(fetched_by=user).filter(tenant=tenant),
            "roles": Role.choices,
            "can_manage": has_perm(user, tenant, Perm.MEMBERS_MANAGE),
            "sees_billing": has_perm(user, tenant, Perm.INVOICE_VIEW),
            "edits_billing": has_perm(user, tenant, Perm.TENANT_BILLING_MANAGE),
            "invitations": [
                i
                for i in selectors.invitation_list(fetched_by=user).filter(
                    tenant=tenant, accepted_at__isnull=True, revoked_at__isnull=True
                )
                if i.status == "pending"
            ],
            "policy_changes": selectors.policy_change_list(fetched_by=user).filter(
                tenant=tenant, status=PolicyChange.Status.PENDING
            ),
        },
    )


@login_required
def tenant_billing(request: HttpRequest) -> HttpResponse:
    """The current tenant's billing details: finance and platform admins edit them."""
    user = _user(request)
    tenant = current_tenant(request)
    if tenant is None:
        messages.info(request, _("Choose a tenant in the header to see its members."))
        return redirect("ui:vm-list")
    if not has_perm(user, tenant, Perm.TENANT_BILLING_MANAGE):
        raise Http404  # as for a page that does not exist: nothing to see for this role
    initial = {name: getattr(tenant, name) for name in services.TENANT_BILLING_FIELDS}
    form = TenantBillingForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.tenant_billing_update(
                    updated_by=user, tenant=tenant, remote_addr=client_ip(request),
                    **form.cleaned_data,
                )  # fmt: skip
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Billing details saved."))
                return redirect("tenant")
        status = 400
    return render(
        request, "portal/tenant_billing.html", {"tenant": tenant, "form": form}, status=status
    )


_NEW_INVITATION = "nuage.new_invitation"


def _new_invitation_pop(request: HttpRequest, user: User, tenant: Tenant) -> dict[str, Any] | None:
    """The invitation just made on this page and its link, once: the session forgets it here."""
    made = request.session.pop(_NEW_INVITATION, None)
    if not isinstance(made, dict) or not isinstance(made.get("id"), int):
        return None
    invitation = (
        selectors.invitation_list(fetched_by=user).filter(tenant=tenant, pk=int(made["id"])).first()
    )
    if invitation is None or invitation.status != "pending":
        return None
    return {"invitation": invitation, "link": services.invitation_link(str(made["secret"]))}


def _tenant_change(request: HttpRequest, tenant: Tenant) -> None:
    user, post = _user(request), request.POST
    address = request.META.get("REMOTE_ADDR")
    memberships = selectors.membership_list(fetched_by=user).filter(tenant=tenant)
    try:
        if post.get("do") == "add":
            who = (
                User.objects.filter(is_active=True)
                .filter(Q(username=post.get("user", "")) | Q(email__iexact=post.get("user") or "-"))
                .first()
            )
            if who is None:
                raise ValidationError(_("No active user with this username or e-mail."))
            services.membership_create(
                created_by=user, tenant=tenant, user=who, role=post.get("role", ""),
                remote_addr=address,
            )  # fmt: skip
            messages.success(request, _("%(user)s added.") % {"user": who.username})
        elif post.get("do") == "invite":
            invitation, secret = services.invitation_create(
                created_by=user, tenant=tenant, email=post.get("email", ""),
                role=post.get("role", ""), remote_addr=address,
            )  # fmt: skip
            # Mail may not be configured: the next page shows the link once, to copy. It waits
            # in the server-side session, not in a message (messages may live in a cookie).
            request.session[_NEW_INVITATION] = {"id": invitation.pk, "secret": secret}
            messages.success(
                request,
                _("Invitation for %(email)s created, valid until %(expiry)s.")
                % {
                    "email": invitation.email,
                    "expiry": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
                },
            )
        elif post.get("do") == "revoke-invitation":
            invitation = get_object_or_404(
                selectors.invitation_list(fetched_by=user).filter(tenant=tenant),
                pk=post.get("invitation") or 0,
            )
            services.invitation_revoke(revoked_by=user, invitation=invitation, remote_addr=address)
            messages.success(request, _("Invitation revoked."))
        elif post.get("do") in ("role", "remove"):
            membership = get_object_or_404(memberships, pk=post.get("membership") or 0)
            if post["do"] == "role":
                services.membership_update(
                    updated_by=user, membership=membership, role=post.get("role", ""),
                    remote_addr=address,
                )  # fmt: skip
                messages.success(request, _("Role changed."))
            else:
                services.membership_delete(
                    deleted_by=user, membership=membership, remote_addr=address
                )
                messages.success(request, _("Member removed."))
        elif post.get("do") == "environment":
            environment = get_object_or_404(
                selectors.environment_list(fetched_by=user).filter(tenant=tenant),
                pk=post.get("environment") or 0,
            )

            def limit(name: str) -> int | None:
                value = post.get(name, "").strip()
                if not value:
                    return None
                if not (value.isascii() and value.isdigit() and len(value) <= 9):
                    raise ValidationError(_("Give a whole number, or leave it empty."))
                return int(value)

            _environment, proposal = services.environment_change(
                updated_by=user,
                environment=environment,
                requires_approval=post.get("requires_approval") == "on",
                justification_required=post.get("justification_required") == "on",
                auto_approve_max_vcpus=limit("auto_approve_max_vcpus"),
                auto_approve_max_ram_mib=limit("auto_approve_max_ram_mib"),
                lease_default_days=limit("lease_default_days"),
                lease_max_days=limit("lease_max_days"),
                remote_addr=address,
            )
            if proposal is not None:
                messages.info(
                    request,
                    _(
                        "This change loosens the approval policy of %(env)s: it applies once "
                        "another tenant admin or a platform admin approves it."
                    )
                    % {"env": environment.name},
                )
            else:
                messages.success(request, _("Policy of %(env)s saved.") % {"env": environment.name})
        elif post.get("do") in ("policy-approve", "policy-reject"):
            proposal = get_object_or_404(
                selectors.policy_change_list(fetched_by=user).filter(tenant=tenant),
                pk=post.get("policy_change") or 0,
            )
            if post["do"] == "policy-approve":
                services.policy_change_approve(
                    approved_by=user, policy_change=proposal, remote_addr=address
                )
                messages.success(request, _("Policy change approved and applied."))
            else:
                services.policy_change_reject(
                    rejected_by=user, policy_change=proposal, remote_addr=address
                )
                messages.success(request, _("Policy change rejected."))
        else:
            raise Http404
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    except (PermissionDenied, ConflictError) as exc:
        messages.error(request, str(exc))


@login_required
def invitation_accept(request: HttpRequest, secret: str) -> HttpResponse:
    """The page an invitation link opens: who invites you where; accept to join."""
    user = _user(request)
    invitation = services.invitation_find(secret)
    if invitation is None:
        raise Http404
    if request.method == "POST":
        try:
            membership = services.invitation_accept(
                secret=secret, accepted_by=user, remote_addr=client_ip(request)
            )
        except (ConflictError, ValidationError, PermissionDenied) as exc:
            messages.error(request, exc.message if isinstance(exc, ConflictError) else str(exc))
        else:
            current_tenant_set(request, membership.tenant)
            messages.success(
                request,
                _("Welcome to %(tenant)s: you are now %(role)s.")
                % {"tenant": membership.tenant.name, "role": membership.get_role_display()},
            )
            return redirect("tenant")
    return render(
        request,
        "portal/invitation.html",
        {
            "invitation": invitation,
            "status": invitation.status,
            "mismatch": ""
            if invitation.is_for(user)
            else services.invitation_mismatch_message(user),
        },
    )


@login_required
def notification_page(request: HttpRequest) -> HttpResponse:
    """Your notifications, newest first: open one (marks it read), mark one or all read."""
    user = _user(request)
    if request.method == "POST":
        if request.POST.get("do") == "read-all":
            notifications.notifications_mark_all_read(read_by=user)
            return redirect("notifications")
        notification = get_object_or_404(
            selectors.notification_list(fetched_by=user),
            pk=request.POST.get("notification") or 0,
        )
        notifications.notification_mark_read(notification=notification, read_by=user)
        target = notification.url if request.POST.get("do") == "open" else ""
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
            return redirect(target)
        return redirect("notifications")
    page = Paginator(selectors.notification_list(fetched_by=user), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "portal/notifications.html", {"page": page})
