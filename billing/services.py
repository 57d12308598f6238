"""Writes to price lists: create one for a date, withdraw one not yet in effect."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import FlavorPrice, PriceList
from compute.models import Flavor
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import Perm, require_platform_perm

PRICE_FIELDS = ("vcpu_hour", "ram_gib_hour", "disk_gib_hour", "snapshot_gib_hour")


def _when(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def _overlap_errors(candidate: PriceList) -> dict[str, str]:
    """Compare with the other lists of the currency (locked by the caller) for overlaps.

    A list without an explicit end stops where the next one starts, so a new list may be put
    between two others; it overlaps only an explicit end that reaches past its start, or a
    list starting at the same instant.
    """
    same = PriceList.objects.filter(currency=candidate.currency)
    start, end = candidate.effective_from, candidate.effective_to
    clash = same.filter(effective_from=start).first()
    if clash is not None:
        return {
            "effective_from": _("The price list '%(name)s' in %(cur)s already starts then.")
            % {"name": clash.name, "cur": candidate.currency}
        }
    before = same.filter(effective_from__lt=start).order_by("-effective_from").first()
    if before is not None and before.effective_to is not None and before.effective_to > start:
        return {
            "effective_from": _(
                "This overlaps the price list '%(name)s', which runs until %(end)s."
            )
            % {"name": before.name, "end": _when(before.effective_to)}
        }
    after = same.filter(effective_from__gt=start).order_by("effective_from").first()
    if after is not None and end is not None and end > after.effective_from:
        return {
            "effective_to": _("This overlaps the price list '%(name)s', which starts at %(start)s.")
            % {"name": after.name, "start": _when(after.effective_from)}
        }
    return {}


@transaction.atomic
def price_list_create(
    *,
    created_by: User,
    name: str,
    currency: str,
    effective_from: datetime,
    vcpu_hour: Decimal,
    ram_gib_hour: Decimal,
    disk_gib_hour: Decimal,
    snapshot_gib_hour: Decimal = Decimal("0"),
    effective_to: datetime | None = None,
    flavor_prices: Mapping[Flavor, Decimal] | None = None,
    remote_addr: str | None = None,
) -> PriceList:
    """A new price list. Usage across its start is split there exactly."""
    require_platform_perm(created_by, Perm.PRICE_MANAGE)
    price_list = PriceList(
        name=name.strip(),
        currency=currency.strip().upper(),
        effective_from=effective_from,
        effective_to=effective_to,
        vcpu_hour=vcpu_hour,
        ram_gib_hour=ram_gib_hour,
        disk_gib_hour=disk_gib_hour,
        snapshot_gib_hour=snapshot_gib_hour,
        created_by=created_by,
    )
    errors: dict[str, str] = {}
    try:
        price_list.full_clean(exclude=["created_by"], validate_constraints=False)
    except ValidationError as exc:
        errors.update({f: " ".join(msgs) for f, msgs in exc.message_dict.items()})
    for fname in ("effective_from", "effective_to"):
        value = getattr(price_list, fname)
        if value is not None and timezone.is_naive(value):
            errors[fname] = _("Give a time zone (for example 2025-04-01T00:00:00Z).")
    if not errors and effective_to is not None and effective_to <= effective_from:
        errors["effective_to"] = _("The end must come after the start.")
    negative = [f.name for f, price in (flavor_prices or {}).items() if price < 0]
    if negative:
        errors["flavor_prices"] = _("A price cannot be negative (flavor %(names)s).") % {
            "names": ", ".join(negative)
        }
    if errors:
        raise ValidationError(errors)
    # Lock the currency's lists so two concurrent creations cannot both pass the overlap check
    # (the unique start is the database's own backstop).
    list(PriceList.objects.select_for_update().filter(currency=price_list.currency))
    errors = _overlap_errors(price_list)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            price_list.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"effective_from": _("Another price list in this currency starts then.")}
        ) from exc
    FlavorPrice.objects.bulk_create(
        FlavorPrice(price_list=price_list, flavor=flavor, per_hour=price)
        for flavor, price in (flavor_prices or {}).items()
    )
    audit_record(
        actor=created_by,
        action="price_list.create",
        obj=price_list,
        remote_addr=remote_addr,
        changes={
            "currency": price_list.currency,
            "effective_from": effective_from.isoformat(),
            "effective_to": effective_to.isoformat() if effective_to else None,
            **{f: str(getattr(price_list, f)) for f in PRICE_FIELDS},
            "flavor_prices": {f.name: str(p) for f, p in (flavor_prices or {}).items()},
        },
    )
    return price_list


@transaction.atomic
def price_list_delete(
    *, deleted_by: User, price_list: PriceList, remote_addr: str | None = None
) -> None:
    """Withdraw a list that has not taken effect; one in effect has valued usage already."""
    require_platform_perm(deleted_by, Perm.PRICE_MANAGE)
    locked = PriceList.objects.select_for_update().get(pk=price_list.pk)
    if locked.effective_from <= timezone.now():
        raise ConflictError(
            _(
                "The price list '%(name)s' is already in effect and usage has been valued with "
                "it; create a new price list instead."
            )
            % {"name": locked.name}
        )
    audit_record(
        actor=deleted_by,
        action="price_list.delete",
        obj=locked,
        remote_addr=remote_addr,
        changes={"currency": locked.currency, "effective_from": locked.effective_from.isoformat()},
    )
    locked.delete()
