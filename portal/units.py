"""Sizes for people: 131072 MiB reads "128 GiB" ("128 Gio" in French, with a decimal comma)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext

# Binary units, smallest first; the symbols are translated (French: Mio, Gio, Tio).
_UNITS = ("MiB", "GiB", "TiB", "PiB")


def _symbol(unit: str) -> str:
    return {
        "MiB": gettext("MiB"),
        "GiB": gettext("GiB"),
        "TiB": gettext("TiB"),
        "PiB": gettext("PiB"),
    }[unit]


def size_mib(mib: int | float | Decimal | None) -> str:
    """A size given in MiB, in the largest unit it reaches, with at most one decimal:
    131072 -> "128 GiB", 1536 -> "1.5 GiB", 512 -> "512 MiB". None gives "—"."""
    if mib is None or mib == "":
        return "—"
    value = float(mib)
    unit = 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    rounded = round(value, 1)
    decimals = 0 if rounded == int(rounded) else 1
    # A no-break space keeps the figure and its unit on one line.
    return f"{number_format(rounded, decimal_pos=decimals)}\u00a0{_symbol(_UNITS[unit])}"


def size_gib(gib: int | float | Decimal | None) -> str:
    """A size given in GiB: 400 -> "400 GiB", 2048 -> "2 TiB"."""
    return "—" if gib is None or gib == "" else size_mib(float(gib) * 1024)
