"""Browser pages of OVF: export a VM, download its OVA, import an OVA as an image."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compute import selectors
from compute.api.ovf import export_file_response, upload_path
from compute.models import ImportJob
from compute.services import ovf as ovf_services
from compute.services import ovf_import
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


class ImageImportForm(forms.Form):
    file = forms.FileField(label=_("OVA file"))
    name = forms.CharField(label=_("Image name"), max_length=63)
    kernel_path = forms.CharField(
        label=_("Kernel path (optional)"),
        required=False,
        max_length=255,
        help_text=_(
            "Only for a disk that cannot start by itself: the file on the hosts of the "
            "kernel to start it with."
        ),
    )
    initrd_path = forms.CharField(label=_("Initrd path (optional)"), required=False, max_length=255)
    is_public = forms.BooleanField(label=_("Every tenant may use it"), required=False, initial=True)


@login_required
def image_import(request: HttpRequest) -> HttpResponse:
    """The Images page; for platform admins, the form that starts an OVA import (the upload is
    checked and kept at once; the import itself runs on a worker, followed on its own page)."""
    user = _user(request)
    if not user.is_platform_admin:
        raise Http404
    form = ImageImportForm()
    if request.method == "POST":
        try:
            ovf_import.check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("ui:image-import")
        form = ImageImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                job = ovf_import.image_import_start(
                    imported_by=user,
                    file=upload.file,
                    size=upload.size,
                    path=upload_path(upload),
                    name=data["name"],
                    kernel_path=data["kernel_path"],
                    initrd_path=data["initrd_path"],
                    is_public=data["is_public"],
                    remote_addr=request.META.get("REMOTE_ADDR"),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _(
                        "Import of %(name)s started: its disk is now checked, converted "
                        "and copied to the hosts."
                    )
                    % {"name": job.name},
                )
                return redirect("ui:image-import-job", pk=job.pk)
    images = selectors.image_list(fetched_by=user)
    imports = selectors.import_job_list(fetched_by=user)[:5]
    return render(
        request, "compute/images.html", {"form": form, "images": images, "imports": imports}
    )


def _import_job(request: HttpRequest, pk: int) -> ImportJob:
    # Anyone but a platform admin: 404, as the Images page (the selector shows them nothing).
    return get_object_or_404(selectors.import_job_list(fetched_by=_user(request)), pk=pk)


@login_required
def image_import_job(request: HttpRequest, pk: int) -> HttpResponse:
    """One OVA import: its state, updated live while it runs, then its image or why it failed."""
    return render(request, "compute/import_job.html", {"job": _import_job(request, pk)})


@login_required
def image_import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The live region of an import's page (polled while the page is open)."""
    job = _import_job(request, pk)
    request.nuage_partial = True  # type: ignore[attr-defined]  # no navigation to compute
    return render(request, "compute/_import_job.html", {"job": job})
