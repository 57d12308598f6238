"""Browser pages of OVF: export a VM, download its OVA, import an OVA as an image."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compute import selectors
from compute.api.ovf import export_file_response
from compute.services import ovf as ovf_services
from portal.errors import ConflictError
from portal.models import User


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_POST
def vm_export(request: HttpRequest, pk: int) -> HttpResponse:
    vm = get_object_or_404(selectors.vm_list(fetched_by=_user(request)), pk=pk)
    try:
        ovf_services.vm_export_create(
            vm=vm, requested_by=_user(request), remote_addr=request.META.get("REMOTE_ADDR")
        )
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Export of %(name)s started; its OVA appears below.") % {"name": vm.name}
        )
    return redirect("ui:vm-detail", pk=vm.pk)


@login_required
def export_download(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(selectors.export_list(fetched_by=_user(request)), pk=pk)
    if not selectors.can_operate(_user(request), job.vm):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))
    return export_file_response(job)
