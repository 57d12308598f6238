"""In-app notifications (the bell): `notify()` is the one way any app tells a user something
in the portal; reading and marking them read go through the functions below.

    from portal.notifications import notify
    notify(user=vm.owner, kind="lease.warning", text=lambda: _("…") % {...},
           url=f"/vms/{vm.pk}/", tenant=vm.tenant, key=f"lease-7d-{vm.pk}-{expiry:%Y%m%d}")

Notifications are not audited: each one follows from a write that was (a decision, a run's
result, a budget check), and reading one changes nothing but the reader's own list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from portal.models import Notification, Tenant, User

# The newest notifications the dropdown shows.
RECENT = 5

Text = str | Callable[[], str]


def _render(user: User, text: Text) -> str:
    if isinstance(text, str):
        return text
    # Rendered once, in the recipient's language when we know it (read later, elsewhere).
    with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
        return str(text())


@transaction.atomic(savepoint=False)  # within a caller's transaction, no savepoint of its own
def notify(
    *,
    user: User,
    kind: str,
    text: Text,
    url: str = "",
    tenant: Tenant | None = None,
    key: str = "",
) -> Notification:
    """Tell `user` something in the portal. `text` is a string, or a callable that returns it
    (called under the user's language: pass `lambda: _("…") % {...}`). `url` is the page it is
    about (a path such as /vms/3/). With a `key`, a second call for the same user and key
    returns the first notification instead of adding another (safe to call from retried tasks).
    """
    fields = {
        "user": user,
        "kind": kind,
        "text": _render(user, text)[:2000],
        "url": url[:300],
        "tenant": tenant,
        "key": key[:200],
    }
    if not key:
        return Notification.objects.create(**fields)
    if connection.vendor == "postgresql":
        # One statement (event delivery adds one for every recipient of every event): the row,
        # or nothing when the user has this key already (the unique constraint, whoever
        # committed it first), then that one.
        made = _insert_unless_taken(Notification(**fields))
        return made or Notification.objects.unscoped().get(user=user, key=fields["key"])
    existing = Notification.objects.unscoped().filter(user=user, key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():  # a concurrent call with the same key won the race
            return Notification.objects.create(**fields)
    except IntegrityError:
        return Notification.objects.unscoped().get(user=user, key=key)


def _insert_unless_taken(obj: Notification) -> Notification | None:
    """INSERT … ON CONFLICT DO NOTHING: `obj` saved, or None if its key was taken. Values are
    prepared by each field as `save()` prepares them (`pre_save` fills created_at)."""
    fields = [f for f in Notification._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    pk = quote(str(Notification._meta.pk.column)) if Notification._meta.pk else "id"
    sql = (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) "  # noqa: S608 - names
        f"VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = row[0]
    obj._state.adding, obj._state.db = False, connection.alias
    return obj


def notify_all(
    *,
    users: Iterable[User],
    kind: str,
    text: Text,
    url: str = "",
    tenant: Tenant | None = None,
    key: str = "",
) -> list[Notification]:
    """notify() each user once (a user listed twice gets one)."""
    seen: set[int] = set()
    made = []
    for user in users:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        made.append(notify(user=user, kind=kind, text=text, url=url, tenant=tenant, key=key))
    return made


def notification_mark_read(*, notification: Notification, read_by: User) -> Notification:
    """Mark one of `read_by`'s notifications read (again: no change)."""
    if notification.user_id != read_by.pk:
        raise Notification.DoesNotExist
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, read_by: User) -> int:
    """Mark every unread notification of `read_by` read; how many were."""
    return (
        Notification.objects.visible_to(read_by)
        .filter(read_at__isnull=True)
        .update(read_at=timezone.now())
    )
