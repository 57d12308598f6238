"""Browser views for data volumes: the volumes page and the actions its forms and the VM page's
volumes card post (thin: selectors and services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from compute import selectors, services
from compute.models import Volume
from compute.views import _run, _user
from portal.selectors import environment_list
from portal.tenancy import current_tenant


class VolumeForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63)
    size_gib = forms.IntegerField(label=gettext_lazy("Size (GiB)"), min_value=1, max_value=16384)
    keep_after_vm_deletion = forms.BooleanField(
        label=gettext_lazy("Keep it when its VM is deleted"), required=False
    )


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("ui:volumes")


def _volume(request: HttpRequest, pk: int) -> Volume:
    return get_object_or_404(selectors.volume_list(fetched_by=_user(request)), pk=pk)


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
def volumes(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    tenant = current_tenant(request)
    envs = environment_list(fetched_by=user)
    if tenant is not None:
        envs = envs.filter(tenant=tenant)
    form = VolumeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        environment = envs.filter(pk=request.POST.get("environment") or 0).first()
        if environment is None:
            form.add_error(None, _("Choose an environment."))
        if form.is_valid() and environment is not None:
            try:
                volume = services.volume_create(
                    created_by=user,
                    environment=environment,
                    remote_addr=request.META.get("REMOTE_ADDR"),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Volume %(name)s created.") % {"name": volume.name})
                return redirect("ui:volumes")
        status = 400
    listed = selectors.volume_list(fetched_by=user)
    if tenant is not None:
        listed = listed.filter(tenant=tenant)
    vms = selectors.vm_list(fetched_by=user).filter(state__in=["running", "stopped"])
    if tenant is not None:
        vms = vms.filter(tenant=tenant)
    context: dict[str, Any] = {
        "volumes": listed.order_by("name", "pk"),
        "form": form,
        "environments": envs,
        "vms": list(vms.order_by("name")),
        "tenant": tenant,
    }
    return render(request, "compute/volumes.html", context, status=status)


@login_required
@require_POST
def volume_new_for_vm(request: HttpRequest, pk: int) -> HttpResponse:
    """The VM page's "New volume": created in the VM's environment and attached to it."""
    user = _user(request)
    vm = get_object_or_404(selectors.vm_list(fetched_by=user), pk=pk)
    form = VolumeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("ui:vm-detail", pk=vm.pk)
    _run(
        request,
        lambda: services.volume_create(
            created_by=user,
            environment=vm.environment,
            vm=vm,
            remote_addr=request.META.get("REMOTE_ADDR"),
            **form.cleaned_data,
        ),
        _("Volume %(name)s created and attached.") % {"name": form.cleaned_data["name"]},
    )
    return redirect("ui:vm-detail", pk=vm.pk)


@login_required
@require_POST
def volume_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = _user(request)
    volume = _volume(request, pk)
    addr = request.META.get("REMOTE_ADDR")
    if action == "attach":
        vm = selectors.vm_list(fetched_by=user).filter(pk=request.POST.get("vm") or 0).first()
        if vm is None:
            messages.error(request, _("Choose a VM."))
            return _back(request)
        _run(
            request,
            lambda: services.volume_attach(
                volume=volume, vm=vm, requested_by=user, remote_addr=addr
            ),
            _("Attaching %(volume)s to %(vm)s.") % {"volume": volume.name, "vm": vm.name},
        )
    elif action == "detach":
        _run(
            request,
            lambda: services.volume_detach(volume=volume, requested_by=user, remote_addr=addr),
            _("Detaching %(volume)s.") % {"volume": volume.name},
        )
    elif action == "resize":
        try:
            size = int(request.POST.get("size_gib", ""))
        except ValueError:
            size = 0
        _run(
            request,
            lambda: services.volume_resize(
                volume=volume, size_gib=size, requested_by=user, remote_addr=addr
            ),
            _("Growing %(volume)s to %(size)s GiB.") % {"volume": volume.name, "size": size},
        )
    elif action == "delete":
        _run(
            request,
            lambda: services.volume_delete(volume=volume, requested_by=user, remote_addr=addr),
            _("Deleting %(volume)s.") % {"volume": volume.name},
        )
    else:
        raise Http404
    return _back(request)


@login_required
@require_POST
def volume_attach_to_vm(request: HttpRequest, pk: int) -> HttpResponse:
    """The VM page's "Attach a volume": one of the tenant's free volumes, chosen by id."""
    user = _user(request)
    vm = get_object_or_404(selectors.vm_list(fetched_by=user), pk=pk)
    volume = selectors.volume_list(fetched_by=user).filter(pk=request.POST.get("volume") or 0)
    chosen = volume.first()
    if chosen is None:
        messages.error(request, _("Choose a volume."))
    else:
        _run(
            request,
            lambda: services.volume_attach(
                volume=chosen, vm=vm, requested_by=user, remote_addr=request.META.get("REMOTE_ADDR")
            ),
            _("Attaching %(volume)s to %(vm)s.") % {"volume": chosen.name, "vm": vm.name},
        )
    return redirect("ui:vm-detail", pk=vm.pk)
