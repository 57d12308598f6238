"""Browser consoles of a running VM: one-time tickets, the audit of each session, and the check
that keeps a session open only while its user may still use the VM and the VM still runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import selectors
from compute.choices import ConsoleKind, VMState
from compute.models import ConsoleToken, VirtualMachine
from compute.selectors import can_operate
from portal.audit import audit_record
from portal.models import User

TOKEN_TTL = timedelta(seconds=30)
# Used and expired tickets are kept this long (for an operator's eyes), then removed.
TOKEN_KEEP = timedelta(days=1)


class ConsoleRefused(Exception):
    """A console may not be opened (or stay open); `status` is the HTTP answer that says why."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def console_vnc_password(vm_uuid: uuid.UUID | str) -> str:
    """The VM's VNC password: derived from SECRET_KEY, so nothing secret is stored.

    VNC authentication uses at most 8 characters. The browser never sees it: the proxy
    authenticates to the display itself.
    """
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"nuage-vnc:{vm_uuid}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(mac).decode()[:8].lower()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- reads ---------------------------------------------------------------------------------


def console_target(*, fetched_by: User, vm_id: int) -> VirtualMachine:
    """The VM whose console `fetched_by` may use right now, with its host; else ConsoleRefused.

    Asked when a ticket is issued and redeemed, and every few seconds while a session is open:
    a user removed from the tenant, deactivated, or a VM that stopped ends the session.
    """
    if not fetched_by.is_active:
        raise ConsoleRefused(_("Your account is disabled."), status=403)
    vm = selectors.vm_list(fetched_by=fetched_by).filter(pk=vm_id).first()
    if vm is None:
        # Another tenant's VM looks like no VM at all.
        raise ConsoleRefused(_("No such VM."), status=404)
    if not can_operate(fetched_by, vm):
        raise ConsoleRefused(
            _("Your role in this tenant does not allow opening this VM's console."), status=403
        )
    if vm.state != VMState.RUNNING or vm.host is None:
        raise ConsoleRefused(
            _("%(name)s is not running: its console is available while it runs.")
            % {"name": vm.name},
            status=409,
        )
    return vm


def console_session_check(*, user_id: int, vm_id: int) -> None:
    """Raise ConsoleRefused when an open session must end (the periodic check)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ConsoleRefused(_("Your account no longer exists."), status=403)
    console_target(fetched_by=user, vm_id=vm_id)


# --- writes --------------------------------------------------------------------------------


@transaction.atomic
def console_token_issue(*, vm: VirtualMachine, user: User, kind: str) -> str:
    """A ticket for one console session of `vm` by `user`, valid TOKEN_TTL; returns it."""
    if kind not in ConsoleKind.values:
        raise ValidationError({"kind": _("Unknown console kind.")})
    target = console_target(fetched_by=user, vm_id=vm.pk)
    now = timezone.now()
    ConsoleToken.objects.filter(expires_at__lt=now - TOKEN_KEEP).delete()
    token = secrets.token_urlsafe(32)
    ConsoleToken.objects.create(
        digest=_digest(token), user=user, vm=target, kind=kind, expires_at=now + TOKEN_TTL
    )
    return token


@transaction.atomic
def console_token_redeem(
    *, token: str, user: User, vm_id: int, kind: str, remote_addr: str | None = None
) -> VirtualMachine:
    """Use a ticket to open a session: checked, spent and audited ("console opened") at once.

    Refused (ConsoleRefused, nothing spent) when the ticket is unknown, another user's, for
    another VM or console, already used or expired, or the user may no longer use the VM.
    """
    row = ConsoleToken.objects.select_for_update().filter(digest=_digest(token)).first()
    if row is None or row.vm_id != vm_id or row.kind != kind:
        raise ConsoleRefused(_("This console link is not valid."), status=403)
    if row.user_id != user.pk:
        raise ConsoleRefused(_("This console link was issued to another user."), status=403)
    now = timezone.now()
    if row.used_at is not None:
        raise ConsoleRefused(
            _("This console link was already used: reload the page to open a new session."),
            status=410,
        )
    if row.expires_at <= now:
        raise ConsoleRefused(
            _("This console link has expired: reload the page to open a new session."),
            status=410,
        )
    vm = console_target(fetched_by=user, vm_id=vm_id)
    row.used_at = now
    row.save(update_fields=["used_at"])
    audit_record(
        actor=user,
        action="vm.console_open",
        obj=vm,
        tenant=vm.tenant,
        changes={"console": kind},
        remote_addr=remote_addr,
    )
    return vm
