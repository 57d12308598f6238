"""The VM page's snapshot forms: take, revert, delete, and the schedule (POST, then back)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compute import selectors, services
from compute.models import Snapshot, VirtualMachine
from portal.errors import ConflictError
from portal.models import User


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _vm(request: HttpRequest, pk: int) -> VirtualMachine:
    vm = selectors.vm_list(fetched_by=_user(request)).filter(pk=pk).first()
    if vm is None:
        raise Http404
    return vm


def _snapshot(vm: VirtualMachine, sid: int) -> Snapshot:
    snapshot = selectors.vm_snapshots(vm=vm).filter(pk=sid).first()
    if snapshot is None:
        raise Http404
    snapshot.vm = vm
    return snapshot


def _run(request: HttpRequest, fn: Callable[[], object], ok: str) -> None:
    try:
        fn()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ok)


def _back(vm: VirtualMachine) -> HttpResponse:
    return redirect(reverse("ui:vm-detail", args=[vm.pk]) + "#vm-snapshots")


@login_required
@require_POST
def snapshot_take(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    name = request.POST.get("name", "").strip()
    with_memory = request.POST.get("with_memory") == "on"
    _run(
        request,
        lambda: services.snapshot_create(
            vm=vm,
            name=name,
            with_memory=with_memory,
            requested_by=_user(request),
            remote_addr=request.META.get("REMOTE_ADDR"),
        ),
        _("Snapshot %(name)s of %(vm)s requested.") % {"name": name, "vm": vm.name},
    )
    return _back(vm)


@login_required
@require_POST
def snapshot_revert(request: HttpRequest, pk: int, sid: int) -> HttpResponse:
    vm = _vm(request, pk)
    snapshot = _snapshot(vm, sid)
    _run(
        request,
        lambda: services.snapshot_revert(
            snapshot=snapshot,
            requested_by=_user(request),
            remote_addr=request.META.get("REMOTE_ADDR"),
        ),
        _("Revert of %(vm)s to %(name)s requested.") % {"name": snapshot.name, "vm": vm.name},
    )
    return _back(vm)


@login_required
@require_POST
def snapshot_delete(request: HttpRequest, pk: int, sid: int) -> HttpResponse:
    vm = _vm(request, pk)
    snapshot = _snapshot(vm, sid)
    _run(
        request,
        lambda: services.snapshot_delete(
            snapshot=snapshot,
            requested_by=_user(request),
            remote_addr=request.META.get("REMOTE_ADDR"),
        ),
        _("Deletion of snapshot %(name)s requested.") % {"name": snapshot.name},
    )
    return _back(vm)


@login_required
@require_POST
def snapshot_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    vm = _vm(request, pk)
    user = _user(request)
    if request.POST.get("remove"):
        _run(
            request,
            lambda: services.snapshot_schedule_remove(
                vm=vm, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
            ),
            _("Scheduled snapshots turned off."),
        )
        return _back(vm)
    try:
        retention = int(request.POST.get("retention", ""))
    except ValueError:
        retention = 0
    _run(
        request,
        lambda: services.snapshot_schedule_set(
            vm=vm,
            frequency=request.POST.get("frequency", ""),
            retention=retention,
            requested_by=user,
            remote_addr=request.META.get("REMOTE_ADDR"),
        ),
        _("Snapshot schedule saved."),
    )
    return _back(vm)
