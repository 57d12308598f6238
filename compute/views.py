"""Browser views for VMs and approvals: thin, they call selectors and services."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from compute import balancing, ipam, selectors, services
from compute.choices import (
    USER_ACTIONS,
    OperationKind,
    OperationStatus,
    RecommendationStatus,
    Step,
    VMState,
)
from compute.forms import (
    DrsSettingsForm,
    NetworkForm,
    RejectForm,
    VMListFilterForm,
    VMRequestForm,
)
from compute.models import Operation, VirtualMachine
from compute.services import leases
from compute.services.steps import stop_grace_seconds
from portal.charts import Series, bar_chart
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import Perm, has_perm, perms_for_role, perms_in
from portal.selectors import environment_list, tenant_list
from portal.tenancy import current_tenant


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _vm(request: HttpRequest, pk: int, *, include_deleted: bool = False) -> VirtualMachine:
    vms = selectors.vm_list_with_operation(
        fetched_by=_user(request), include_deleted=include_deleted
    )
    return get_object_or_404(vms, pk=pk)


def _latest_operation(vm: VirtualMachine) -> Operation | None:
    ops = getattr(vm, "operations_latest_first", None)
    return ops[0] if ops else None


def _vm_context(
    request: HttpRequest,
    vm: VirtualMachine,
    *,
    operation: Operation | None = None,
    perms: frozenset[Perm] | None = None,
) -> dict[str, object]:
    """What the VM page's live region shows; `operation` and `perms` when the caller has them
    already (the partial reads them with the VM), else from the VM's prefetched operations and
    the user's memberships."""
    user = _user(request)
    if perms is None:
        perms = perms_in(user, vm.tenant)
    can_operate = Perm.VM_OPERATE_ANY in perms or (
        vm.owner_id == user.id and Perm.VM_OPERATE_OWN in perms
    )
    if operation is None:
        operation = _latest_operation(vm)
    return {
        "vm": vm,
        "operation": operation,
        "can_operate": can_operate,
        "can_approve": vm.state in (VMState.PENDING_APPROVAL, VMState.RESIZE_PENDING)
        and Perm.VM_APPROVE in perms
        and vm.owner_id != user.id,
        "actions": [
            a
            for a in ("start", "stop", "reboot", "delete")
            if can_operate and _action_allowed(vm, a)
        ],
        "reject_form": RejectForm(),
        "can_withdraw_resize": can_operate and vm.state == VMState.RESIZE_PENDING,
        # Flavors a stopped VM may be resized to (the page's form; the polled partial never
        # evaluates it).
        "resize_flavors": (
            selectors.flavor_list(fetched_by=user).exclude(pk=vm.flavor_id)
            if can_operate and vm.state == VMState.STOPPED
            else None
        ),
        "migration_targets": (
            selectors.host_list(fetched_by=user).exclude(pk=vm.host_id).filter(enabled=True)
            if user.is_platform_admin and vm.state == VMState.RUNNING and vm.host_id
            else None
        ),
        "stop_wait": _stop_wait(vm, operation),
    }


def _stop_wait(vm: VirtualMachine, operation: Operation | None) -> dict[str, object] | None:
    """A stop waiting for the guest: the seconds left before it is powered off (the page's
    countdown, refreshed by its live region), or that it is being forced off."""
    if (
        vm.state != VMState.STOPPING
        or operation is None
        or operation.kind != OperationKind.STOP
        or operation.status not in (OperationStatus.PENDING, OperationStatus.RUNNING)
    ):
        return None
    grace = stop_grace_seconds()
    step = next((s for s in operation.steps.all() if s.name == Step.STOPPING), None)
    seconds_left: int | None = None
    if step is not None and step.started_at is not None:
        left = (step.started_at + timedelta(seconds=grace) - timezone.now()).total_seconds()
        seconds_left = max(0, math.ceil(left))
    return {"forced": operation.forced, "grace": round(grace), "seconds_left": seconds_left}


def _action_allowed(vm: VirtualMachine, action: str) -> bool:
    from compute.choices import TRANSITIONS

    sources, _target = TRANSITIONS[USER_ACTIONS[action]]
    return vm.state in sources


VM_PAGE_SIZE = 100


def _tenant_vms(request: HttpRequest) -> dict[str, Any]:
    """A page of the VMs of the tenant chosen in the header (all the user sees if none is),
    filtered and sorted as the query string asks; the page's context."""
    user = _user(request)
    tenant = current_tenant(request)
    environments = environment_list(fetched_by=user)
    if tenant is not None:
        environments = environments.filter(tenant=tenant)
    names = environments.order_by("name").values_list("name", flat=True).distinct()
    form = VMListFilterForm(request.GET, environments=names)
    filters = form.cleaned_data if form.is_valid() else {}
    mine = filters.get("scope") == "mine"
    sort = filters.get("sort") or selectors.DEFAULT_VM_SORT
    # Their ports come as a column of their rows (one query for the page, not two).
    vms = selectors.with_ports(
        selectors.vm_list_filtered(
            fetched_by=user,
            tenant_id=tenant.pk if tenant is not None else None,
            owner_id=user.pk if mine else None,
            state=filters.get("state", ""),
            environment_name=filters.get("environment", ""),
            name_contains=filters.get("q", ""),
            sort=sort,
            kind=filters.get("kind", ""),
        )
        .select_related(None)
        .select_related("tenant", "environment", "owner", "flavor", "host")
    )
    page = Paginator(vms, VM_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.ports_read(page.object_list)
    keep = request.GET.copy()
    keep.pop("page", None)
    return {
        "vms": page.object_list,
        "page": page,
        "filter_form": form,
        "sort": sort,
        "query": keep.urlencode(),
        "tenant": tenant,
        "mine": mine,
        "scope_query": {"tenant": _with(keep, scope=""), "mine": _with(keep, scope="mine")},
    }


def _with(query: QueryDict, **changes: str) -> str:
    """The query string with some parameters changed (an empty value drops it)."""
    out = query.copy()
    for key, value in changes.items():
        out.pop(key, None)
        if value:
            out[key] = value
    return out.urlencode()


@login_required
def vm_list(request: HttpRequest) -> HttpResponse:
    return render(request, "compute/vm_list.html", _tenant_vms(request))


@login_required
def vm_table(request: HttpRequest) -> HttpResponse:
    return render(request, "compute/_vm_table.html", _tenant_vms(request))


@login_required
def vm_request(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = VMRequestForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            vm = services.vm_request_create(
                requested_by=user,
                remote_addr=request.META.get("REMOTE_ADDR"),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            if vm.state == VMState.PENDING_APPROVAL:
                messages.info(
                    request, _("Request sent: %(name)s waits for an approver.") % {"name": vm.name}
                )
            else:
                messages.success(request, _("%(name)s is being provisioned.") % {"name": vm.name})
            return redirect("ui:vm-detail", pk=vm.pk)
    return render(
        request, "compute/vm_request.html", {"form": form, "tenant": current_tenant(request)}
    )


@login_required
def vm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # A deleted VM still has a page: whoever watched it being deleted sees it end as Deleted.
    # One query for the VM and what its cards list (selectors.vm_page).
    vm = selectors.vm_page(fetched_by=_user(request), pk=pk)
    if vm is None:
        raise Http404
    context = _vm_context(request, vm)
    context["lease"] = _lease_context(request, vm)
    return render(request, "compute/vm_detail.html", context)


def _lease_context(request: HttpRequest, vm: VirtualMachine) -> dict[str, object] | None:
    """The VM's lease for its page: when it ends, and what the user may do about it."""
    if vm.expires_at is None or vm.state == VMState.DELETED:
        return None
    user = _user(request)
    now = timezone.now()
    longest = leases.lease_max_days(vm.environment) or 0
    can_extend = selectors.can_operate(user, vm) or leases.can_extend_beyond_max(user, vm)
    return {
        "expires_at": vm.expires_at,
        "set_at": vm.lease_set_at,
        "days_left": max(0, (vm.expires_at - now).days),
        "expired": vm.expires_at <= now,
        "deletes_at": (vm.lease_expired_at + leases.grace_period())
        if vm.lease_expired_at
        else None,
        "max_days": longest,
        "can_extend": can_extend,
        "can_exceed": leases.can_extend_beyond_max(user, vm),
        "can_ask": selectors.can_operate(user, vm) and not leases.can_extend_beyond_max(user, vm),
        "zone": vm.tenant.timezone,
    }


@login_required
@require_POST
def vm_lease(request: HttpRequest, pk: int) -> HttpResponse:
    """Extend the VM's lease, or ask an approver for longer than the maximum."""
    vm = _vm(request, pk)
    user = _user(request)
    raw = request.POST.get("days", "").strip()
    days = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else -1
    if request.POST.get("do") == "ask":
        _run(
            request,
            lambda: leases.vm_lease_ask(
                vm=vm,
                requested_by=user,
                days=days,
                reason=request.POST.get("reason", ""),
                remote_addr=request.META.get("REMOTE_ADDR"),
            ),
            _("Your request went to the approvers of %(tenant)s.") % {"tenant": vm.tenant.name},
        )
    else:
        _run(
            request,
            lambda: leases.vm_lease_extend(
                vm=vm, requested_by=user, days=days, remote_addr=request.META.get("REMOTE_ADDR")
            ),
            _("The lease of %(name)s now ends in %(days)s days.") % {"name": vm.name, "days": days},
        )
    return redirect(reverse("ui:vm-detail", args=[vm.pk]) + "#lease")


@login_required
def vm_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The live region of the VM page, polled every second while the page is open: the VM, the
    user's role and its latest operation in one query, the steps in another, no navigation."""
    user = _user(request)
    vm = selectors.vm_progress(fetched_by=user, pk=pk)
    if vm is None:
        raise Http404
    operation = selectors.operation_with_steps(vm.latest_operation_id)  # type: ignore[attr-defined]
    perms = perms_for_role(user, vm.viewer_role)  # type: ignore[attr-defined]
    request.nuage_partial = True  # type: ignore[attr-defined]  # no navigation to compute
    return render(
        request,
        "compute/_vm_progress.html",
        _vm_context(request, vm, operation=operation, perms=perms),
    )


def _run(request: HttpRequest, fn: object, ok: str) -> None:
    try:
        fn()  # type: ignore[operator]
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ok)


@login_required
@require_POST
def vm_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in USER_ACTIONS:
        raise Http404
    vm = _vm(request, pk)
    user = _user(request)
    _run(
        request,
        lambda: services.vm_action(
            vm=vm, action=action, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("%(action)s of %(name)s requested.") % {"action": action.capitalize(), "name": vm.name},
    )
    return redirect("ui:vm-detail", pk=vm.pk)


@login_required
@require_POST
def vm_force_off(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _user(request)
    _run(
        request,
        lambda: services.vm_force_off(
            vm=vm, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("%(name)s is being powered off.") % {"name": vm.name},
    )
    return redirect("ui:vm-detail", pk=vm.pk)


@login_required
@require_POST
def vm_approve(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _user(request)
    _run(
        request,
        lambda: services.vm_approve(
            vm=vm, approved_by=user, remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("%(name)s approved; provisioning starts.") % {"name": vm.name},
    )
    return redirect("ui:approvals")


@login_required
@require_POST
def vm_reject(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _user(request)
    form = RejectForm(request.POST)
    reason = form.data.get("reason", "")
    _run(
        request,
        lambda: services.vm_reject(
            vm=vm, rejected_by=user, reason=reason, remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("%(name)s rejected.") % {"name": vm.name},
    )
    return redirect("ui:approvals")


@login_required
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Requests waiting for a decision (with why, their cost and what they take of the quota),
    decided one by one or several at once; `?tab=decided`: the decisions taken."""
    user = _user(request)
    bulk_errors: list[str] = []
    if request.method == "POST":
        decision = request.POST.get("do")
        ids = [int(i) for i in request.POST.getlist("vm") if i.isascii() and i.isdigit()]
        if decision not in ("approve", "reject"):
            bulk_errors.append(_("Choose approve or reject."))
        elif not ids:
            bulk_errors.append(_("Select at least one request."))
        else:
            found = {
                vm.pk: vm
                for vm in selectors.vm_pending_approval_list(fetched_by=user).filter(pk__in=ids)
            }
            try:
                results = services.vm_decide_many(
                    vms=[found[i] for i in ids if i in found],
                    decided_by=user,
                    approve=decision == "approve",
                    reason=request.POST.get("reason", ""),
                    remote_addr=request.META.get("REMOTE_ADDR"),
                )
            except ValidationError as exc:
                bulk_errors.extend(exc.messages)
            else:
                for result in results:
                    text = f"{result.name}: {result.detail}"
                    if result.ok:
                        messages.success(request, text)
                    else:
                        messages.error(request, _("%(text)s (not decided)") % {"text": text})
                missing = len([i for i in ids if i not in found])
                if missing:
                    messages.error(
                        request,
                        _("%(n)s selected request(s) no longer wait for approval.")
                        % {"n": missing},
                    )
                return redirect("ui:approvals")
    tab = "decided" if request.GET.get("tab") == "decided" else "pending"
    context: dict[str, Any] = {"tab": tab, "reject_form": RejectForm(), "bulk_errors": bulk_errors}
    if tab == "decided":
        page = Paginator(selectors.approval_decision_list(fetched_by=user), 50)
        context["decided"] = page.get_page(request.GET.get("page"))
    else:
        # The queue shows no addresses: the list's ports are not read.
        pending = (
            selectors.vm_pending_approval_list(fetched_by=user)
            .select_related("owner", "flavor", "environment", "tenant")
            .prefetch_related(None)
        )
        context["pending"] = [vm for vm in pending if has_perm(user, vm.tenant, Perm.VM_APPROVE)]
    return render(request, "compute/approvals.html", context, status=400 if bulk_errors else 200)


def _platform_admin(request: HttpRequest) -> User:
    user = _user(request)
    if not user.is_platform_admin:
        raise Http404
    return user


@login_required
def host_list(request: HttpRequest) -> HttpResponse:
    """Hosts and capacity at a glance (platform admins)."""
    user = _platform_admin(request)
    rows = selectors.host_capacity_list(fetched_by=user)
    totals = {
        "cpus": sum(r.host.cpus for r in rows),
        "memory_mib": sum(r.host.memory_mib for r in rows),
        "vcpus_allocated": sum(r.vcpus_allocated for r in rows),
        "ram_allocated_mib": sum(r.ram_allocated_mib for r in rows),
        "vms": sum(r.vms for r in rows),
    }
    rolling = selectors.rolling_maintenance_list(fetched_by=user).filter(status="running").first()
    current = next((r.host for r in rows if rolling and r.host.pk == rolling.current_host_id), None)
    pending = (
        selectors.drs_recommendation_list(fetched_by=user)
        .filter(status=RecommendationStatus.PENDING)
        .count()
    )
    return render(
        request,
        "compute/hosts.html",
        {
            "rows": rows,
            "totals": totals,
            "rolling": rolling,
            "rolling_host": current,
            "drs_pending": pending,
            "drs_mode": balancing.drs_settings().get_mode_display(),
        },
    )


@login_required
@require_POST
def rolling_maintenance(request: HttpRequest) -> HttpResponse:
    """Start a rolling maintenance, say the current host is done, or cancel it."""
    user = _platform_admin(request)
    what = request.POST.get("do")
    runs = selectors.rolling_maintenance_list(fetched_by=user)
    if what == "start":
        _run(
            request,
            lambda: services.rolling_maintenance_start(
                requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
            ),
            _("Rolling maintenance started: the first host is being emptied."),
        )
    else:
        run = get_object_or_404(runs, pk=request.POST.get("run") or 0)
        if what == "continue":
            _run(
                request,
                lambda: services.rolling_maintenance_continue(run=run, requested_by=user),
                _("Host returned to the pool; the next one is being emptied."),
            )
        elif what == "cancel":
            _run(
                request,
                lambda: services.rolling_maintenance_cancel(run=run, requested_by=user),
                _("Rolling maintenance cancelled; the current host stays in maintenance."),
            )
        else:
            raise Http404
    return redirect("ui:hosts")


@login_required
@require_http_methods(["GET", "POST"])
def host_maintenance(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what entering maintenance would move, and where, to confirm; POST: do it (or
    return the host to the pool)."""
    user = _platform_admin(request)
    host = get_object_or_404(selectors.host_list(fetched_by=user), pk=pk)
    if request.method == "GET":
        plan = services.host_evacuation_plan(host=host, requested_by=user)
        return render(
            request,
            "compute/host_maintenance.html",
            {
                "host": host,
                "plan": plan,
                "moving": sum(1 for m in plan if m.target is not None),
                "staying": sum(1 for m in plan if m.target is None),
            },
        )
    enabled = request.POST.get("enabled") == "1"
    counts = services.host_set_maintenance(
        host=host, enabled=enabled, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
    )
    if not enabled:
        messages.success(request, _("%(host)s is back in the pool.") % {"host": host.name})
    elif counts["no_room"]:
        messages.warning(
            request,
            ngettext(
                "%(host)s is in maintenance; %(left)s VM found no room on another host yet and "
                "will move when room appears.",
                "%(host)s is in maintenance; %(left)s VMs found no room on another host yet and "
                "will move when room appears.",
                counts["no_room"],
            )
            % {"host": host.name, "left": counts["no_room"]},
        )
    else:
        messages.success(
            request,
            ngettext(
                "%(host)s is in maintenance: %(started)s VM is moving away.",
                "%(host)s is in maintenance: %(started)s VMs are moving away.",
                counts["started"],
            )
            % {"host": host.name, "started": counts["started"]},
        )
    return redirect("ui:hosts")


@login_required
@require_POST
def vm_migrate(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _platform_admin(request)
    target_id = request.POST.get("host") or None
    target = None
    if target_id is not None:
        target = selectors.host_list(fetched_by=user).filter(pk=target_id).first()
        if target is None:
            messages.error(request, _("Unknown host."))
            return redirect("ui:vm-detail", pk=vm.pk)
    _run(
        request,
        lambda: services.vm_migrate(
            vm=vm, requested_by=user, target=target, remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("Live migration of %(name)s started.") % {"name": vm.name},
    )
    return redirect("ui:vm-detail", pk=vm.pk)


# --- load balancing (DRS) and capacity ---------------------------------------------------------


@login_required
def drs(request: HttpRequest) -> HttpResponse:
    """Recommendations with their expected gain, the pool's imbalance, the settings."""
    user = _platform_admin(request)
    form = DrsSettingsForm(request.POST or None, instance=balancing.drs_settings())
    if request.method == "POST" and form.is_valid():
        try:
            balancing.drs_settings_update(
                updated_by=user, remote_addr=request.META.get("REMOTE_ADDR"), **form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Load balancing settings saved."))
            return redirect("ui:drs")
    recs = selectors.drs_recommendation_list(fetched_by=user)
    return render(
        request,
        "compute/drs.html",
        {
            "form": form,
            "figures": balancing.drs_figures(),
            "pending": recs.filter(status=RecommendationStatus.PENDING).order_by(
                "run_id", "position"
            ),
            "decided": recs.exclude(status=RecommendationStatus.PENDING).order_by(
                "-decided_at", "-id"
            )[:20],
            "runs": selectors.drs_run_list(fetched_by=user)[:10],
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def drs_run(request: HttpRequest) -> HttpResponse:
    user = _platform_admin(request)
    run = balancing.drs_run(requested_by=user)
    count = run.recommendations.count()
    if not count:
        messages.info(request, _("The pool is balanced: no move would gain enough."))
    elif run.applied:
        messages.success(
            request,
            ngettext(
                "%(n)s recommendation; %(applied)s live migration started.",
                "%(n)s recommendations; %(applied)s live migrations started.",
                count,
            )
            % {"n": count, "applied": run.applied},
        )
    else:
        messages.success(
            request,
            ngettext("%(n)s recommendation.", "%(n)s recommendations.", count) % {"n": count},
        )
    return redirect("ui:drs")


@login_required
@require_POST
def drs_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    user = _platform_admin(request)
    rec = get_object_or_404(selectors.drs_recommendation_list(fetched_by=user), pk=pk)
    addr = request.META.get("REMOTE_ADDR")
    if decision == "apply":
        _run(
            request,
            lambda: balancing.drs_recommendation_apply(
                recommendation=rec, requested_by=user, remote_addr=addr
            ),
            _("Live migration of %(vm)s to %(host)s started.")
            % {"vm": rec.vm.name, "host": rec.target.name},
        )
    elif decision == "dismiss":
        _run(
            request,
            lambda: balancing.drs_recommendation_dismiss(
                recommendation=rec, requested_by=user, remote_addr=addr
            ),
            _("Recommendation dismissed."),
        )
    else:
        raise Http404
    return redirect("ui:drs")


def _percent(value: float | None) -> float:
    return round(value or 0.0, 1)


def _capacity_charts(report: selectors.CapacityReport) -> list[tuple[str, SafeString]]:
    """One chart per resource, hosts side by side, in percent of each host's physical size (so
    hosts of different sizes compare); the dashed line is the overcommit limit when every host
    has the same, otherwise each host's limit is a bar of its own."""
    names = [r.name for r in report.rows]
    width = max(720, min(4000, 40 * len(names)))
    charts: list[tuple[str, SafeString]] = []
    for key, title, measured in (
        ("cpu", _("vCPUs: allocated and CPU used, in percent of physical CPUs"), True),
        ("memory", _("Memory: allocated and used, in percent of physical memory"), True),
        ("disk", _("Disk: allocated, in percent of the storage pool"), False),
    ):
        resources: list[selectors.Resource] = [getattr(r, key) for r in report.rows]
        series = [Series(_("Allocated"), [_percent(x.allocated_percent) for x in resources])]
        if measured:
            series.append(Series(_("Measured"), [_percent(x.used_percent) for x in resources]))
        limits = {_percent(x.limit_percent) for x in resources if x.physical}
        limit = limits.pop() if len(limits) == 1 else None
        if limit is None and limits:
            series.append(
                Series(_("Overcommit limit"), [_percent(x.limit_percent) for x in resources])
            )
        svg = bar_chart(
            names,
            series,
            title=title,
            stacked=False,
            unit="%",
            width=width,
            limit=limit,
            limit_label=_("Overcommit limit"),
        )
        charts.append((title, svg))
    total = report.total
    pool_title = _("Pool: allocated, measured and limit, in percent of physical")
    charts.insert(
        0,
        (
            pool_title,
            bar_chart(
                [_("vCPUs"), _("Memory"), _("Disk")],
                [
                    Series(
                        _("Allocated"),
                        [
                            _percent(r.allocated_percent)
                            for r in (total.cpu, total.memory, total.disk)
                        ],
                    ),
                    Series(
                        _("Measured"),
                        [_percent(r.used_percent) for r in (total.cpu, total.memory, total.disk)],
                    ),
                    Series(
                        _("Overcommit limit"),
                        [_percent(r.limit_percent) for r in (total.cpu, total.memory, total.disk)],
                    ),
                ],
                title=pool_title,
                stacked=False,
                unit="%",
            ),
        ),
    )
    return charts


@login_required
def capacity(request: HttpRequest) -> HttpResponse:
    """Allocated against physical and the overcommit limit, and measured load, per host and in
    total (platform admins)."""
    user = _platform_admin(request)
    try:
        minutes = min(max(int(request.GET.get("minutes", 60)), 1), 7 * 24 * 60)
    except ValueError:
        minutes = 60
    report = selectors.capacity_report(
        fetched_by=user, since=timezone.now() - timedelta(minutes=minutes)
    )
    assert report is not None  # platform admins always get one
    return render(
        request,
        "compute/capacity.html",
        {
            "report": report,
            "charts": _capacity_charts(report) if report.rows else [],
            "minutes": minutes,
            "windows": [15, 60, 360, 1440],
        },
    )


# --- networks -----------------------------------------------------------------------------------


@login_required
def networks(request: HttpRequest) -> HttpResponse:
    """The networks the user may attach VMs to; platform admins add, delete and grant them."""
    user = _user(request)
    form = NetworkForm(request.POST if request.POST.get("do") == "create" else None)
    if request.method == "POST":
        if not user.is_platform_admin:
            raise Http404
        if _network_change(request, user, form):
            return redirect("ui:networks")
    nets = selectors.network_list(fetched_by=user).prefetch_related(
        Prefetch("grants", queryset=selectors.network_grant_list(fetched_by=user))
    )
    return render(
        request,
        "compute/networks.html",
        {
            "networks": nets.annotate(used=Count("interfaces")),
            "form": form,
            "is_admin": user.is_platform_admin,
            "tenants": tenant_list(fetched_by=user) if user.is_platform_admin else [],
            "environments": environment_list(fetched_by=user) if user.is_platform_admin else [],
        },
        status=400 if form.errors else 200,
    )


def _network_change(request: HttpRequest, user: User, form: NetworkForm) -> bool:
    """Apply one admin change; True when it worked (the page redirects), False to show errors."""
    post, addr = request.POST, request.META.get("REMOTE_ADDR")
    what = post.get("do")
    nets = selectors.network_list(fetched_by=user)
    try:
        if what == "create":
            if not form.is_valid():
                return False
            network = ipam.network_create(
                created_by=user, remote_addr=addr, **form.service_fields()
            )
            messages.success(request, _("Network %(name)s created.") % {"name": network.name})
        elif what == "delete":
            network = get_object_or_404(nets, pk=post.get("network") or 0)
            ipam.network_delete(network=network, deleted_by=user, remote_addr=addr)
            messages.success(request, _("Network %(name)s deleted.") % {"name": network.name})
        elif what == "grant":
            network = get_object_or_404(nets, pk=post.get("network") or 0)
            tenant = get_object_or_404(tenant_list(fetched_by=user), pk=post.get("tenant") or 0)
            env_id = post.get("environment") or None
            environment = (
                get_object_or_404(environment_list(fetched_by=user), pk=env_id) if env_id else None
            )
            ipam.network_grant_create(
                created_by=user,
                network=network,
                tenant=tenant,
                environment=environment,
                remote_addr=addr,
            )
            messages.success(
                request,
                _("%(tenant)s may now use %(network)s.")
                % {"tenant": tenant.name, "network": network.name},
            )
        elif what == "revoke":
            grant = get_object_or_404(
                selectors.network_grant_list(fetched_by=user), pk=post.get("grant") or 0
            )
            ipam.network_grant_delete(grant=grant, deleted_by=user, remote_addr=addr)
            messages.success(request, _("Grant withdrawn."))
        else:
            raise Http404
    except ValidationError as exc:
        if what == "create" and hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return False
        for error in exc.messages:
            messages.error(request, error)
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    return True


@login_required
def flavors(request: HttpRequest) -> HttpResponse:
    """What each flavor gives (size and resource limits) and what it costs to run."""
    return render(
        request,
        "compute/flavors.html",
        {"flavors": selectors.flavor_list(fetched_by=_user(request))},
    )


@login_required
@require_POST
def vm_resize(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _user(request)
    raw = request.POST.get("flavor", "")
    flavor = (
        selectors.flavor_list(fetched_by=user).filter(pk=int(raw)).first()
        if raw.isdigit()
        else None
    )
    if flavor is None:
        messages.error(request, _("Unknown flavor."))
        return redirect("ui:vm-detail", pk=vm.pk)
    names = {"name": vm.name, "flavor": flavor.name}
    try:
        op = services.vm_resize(
            vm=vm, flavor=flavor, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        if op is None:
            messages.success(
                request, _("The resize of %(name)s to %(flavor)s waits for an approver.") % names
            )
        else:
            messages.success(request, _("Resizing %(name)s to %(flavor)s.") % names)
    return redirect("ui:vm-detail", pk=vm.pk)


@login_required
@require_POST
def vm_resize_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    _run(
        request,
        lambda: services.vm_resize_withdraw(
            vm=vm, requested_by=_user(request), remote_addr=request.META.get("REMOTE_ADDR")
        ),
        _("The resize of %(name)s is withdrawn; it keeps its flavor.") % {"name": vm.name},
    )
    return redirect("ui:vm-detail", pk=vm.pk)
