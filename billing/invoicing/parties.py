"""The two parties printed on an invoice: the issuer (settings, NUAGE_ISSUER_*) and the customer
(the tenant's billing details). Both are copied into an invoice when it is issued."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from portal.countries import COUNTRIES
from portal.models import Tenant

PARTY_KEYS = ("name", "address", "country", "vat_number", "registration", "email", "bank")


def _lines(address: str) -> list[str]:
    return [line.strip() for line in address.replace("|", "\n").splitlines() if line.strip()]


def issuer_details() -> dict[str, Any]:
    configured: dict[str, str] = settings.NUAGE.get("ISSUER", {})
    details = {key: str(configured.get(key, "") or "").strip() for key in PARTY_KEYS}
    return {**details, "address": _lines(details["address"])}


def customer_details(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.billing_legal_name or tenant.name,
        "address": _lines(tenant.billing_address),
        "country": tenant.billing_country,
        "vat_number": tenant.vat_number,
        "registration": "",
        "email": tenant.billing_email,
        "bank": "",
        "cost_centre": tenant.cost_centre,
    }


def country_name(code: str) -> str:
    return COUNTRIES.get(code, code)
