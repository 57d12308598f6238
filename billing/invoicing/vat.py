"""VAT of an invoice: one rate per invoice, its amount computed once on the total (rounded half
up to the cent), then spread over the lines so that the lines' VAT adds up to it exactly.

Computing the VAT of each line and adding them up would let a month of many small lines drift
by cents from the rate applied to the total; spreading the total's VAT by largest remainders
keeps every line within a cent of its exact VAT and the sum exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.conf import settings

from portal.models import Tenant

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def platform_vat_rate() -> Decimal:
    return Decimal(str(settings.NUAGE.get("VAT_RATE", "0"))).quantize(CENT)


def vat_rate_for(tenant: Tenant) -> Decimal:
    """The tenant's own rate (0 for reverse charge), else the platform's (NUAGE_VAT_RATE)."""
    return tenant.vat_rate.quantize(CENT) if tenant.vat_rate is not None else platform_vat_rate()


def vat_of(net: Decimal, rate: Decimal) -> Decimal:
    """The VAT of a net amount at `rate` percent, rounded half up (away from zero) to the cent."""
    return (net * rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def vat_split(amounts: Sequence[Decimal], rate: Decimal) -> list[Decimal]:
    """Each line's share of `vat_of(sum(amounts), rate)`: its exact VAT truncated to the cent,
    then the cents left over to the lines with the largest remainders (the earlier line first
    on a tie). Negated amounts (a credit note's) give exactly the negated shares."""
    if not amounts:
        return []
    target = vat_of(sum(amounts, Decimal(0)), rate)
    exact = [amount * rate / HUNDRED for amount in amounts]
    shares = [value.quantize(CENT, rounding=ROUND_DOWN) for value in exact]
    left = target - sum(shares, Decimal(0))
    step = CENT if left > 0 else -CENT
    order = sorted(
        range(len(amounts)),
        key=lambda i: (-(abs(exact[i] - shares[i])), i),
    )
    turn = 0
    while left != 0:
        shares[order[turn % len(order)]] += step
        left -= step
        turn += 1
    return shares
