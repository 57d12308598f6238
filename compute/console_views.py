"""The console pages of a VM: each issues a one-time ticket and opens the websocket with it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache

from compute import selectors
from compute.choices import ConsoleKind
from compute.console import ConsoleRefused, console_token_issue
from portal.models import User


@never_cache  # the page carries a ticket: never from a cache, never twice
@login_required
def vm_console(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    if kind not in ConsoleKind.values:
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    vm = get_object_or_404(selectors.vm_list(fetched_by=user), pk=pk)
    kinds = ConsoleKind.choices
    if vm.is_container:  # a container has its console only: no display
        kinds = [(v, label) for v, label in kinds if v == ConsoleKind.SERIAL]
        if kind != ConsoleKind.SERIAL:
            raise Http404
    context: dict[str, object] = {"vm": vm, "kind": kind, "kinds": kinds}
    try:
        token = console_token_issue(vm=vm, user=user, kind=kind)
    except ConsoleRefused as exc:
        context["refusal"] = exc.message
        return render(request, "compute/console.html", context, status=exc.status)
    context["ws_base"] = settings.NUAGE["CONSOLE_URL"]
    context["ws_path"] = f"/ws/vms/{vm.pk}/console/{kind}/{token}/"
    return render(request, "compute/console.html", context)
