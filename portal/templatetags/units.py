"""Template filters for sizes: {{ flavor.ram_mib|mib }} -> "128 GiB", {{ disk|gib }} -> "2 TiB"."""

from __future__ import annotations

from django import template

from portal.stored_text import translate_stored
from portal.units import size_gib, size_mib

register = template.Library()
register.filter("mib", size_mib)
register.filter("gib", size_gib)


@register.filter
def sized(amount: object, resource: str) -> object:
    """A quota amount in its resource's human unit: ram_mib and disk_gib get one, counts not."""
    if resource == "ram_mib":
        return size_mib(amount)  # type: ignore[arg-type]
    if resource == "disk_gib":
        return size_gib(amount)  # type: ignore[arg-type]
    return amount


@register.filter
def in_language(text: str | None) -> str:
    """A message stored in English (a step's detail) in the reader's language."""
    return translate_stored(text)
