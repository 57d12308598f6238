"""Forms of the portal's own pages: a tenant's billing details."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.countries import COUNTRIES


class TenantBillingForm(forms.Form):
    """What finance edits; the service normalises and validates (the API's rules)."""

    billing_legal_name = forms.CharField(label=_("Legal name"), max_length=200, required=False)
    billing_address = forms.CharField(
        label=_("Billing address"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    billing_country = forms.ChoiceField(label=_("Country"), required=False)
    vat_number = forms.CharField(
        label=_("VAT number"),
        max_length=30,
        required=False,
        help_text=_("With its country prefix, such as FR40303265045."),
    )
    billing_email = forms.EmailField(label=_("Billing e-mail"), required=False)
    cost_centre = forms.CharField(
        label=_("Cost centre"),
        max_length=64,
        required=False,
        help_text=_("Optional; usage reports can be grouped by it."),
    )
    vat_rate = forms.DecimalField(
        label=_("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        required=False,
        help_text=_("Empty: the platform's rate. 0 for a reverse-charge customer."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["billing_country"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—")] + [(c, f"{c} — {n}") for c, n in COUNTRIES.items()]
        if self.is_bound:  # "fr" typed into a plain form post is FR, as in the API
            data = dict(self.data.items())
            data["billing_country"] = str(data.get("billing_country", "")).strip().upper()
            self.data = data
