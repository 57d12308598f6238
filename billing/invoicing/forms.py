"""Forms of the invoice pages: filters, drafting a month, downloading a month's usage."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from billing.choices import InvoiceStatus
from billing.exports import FORMATS
from billing.periods import MAX_YEAR, MIN_YEAR
from portal.models import Tenant


class _MonthFields(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=MIN_YEAR, max_value=MAX_YEAR)
    month = forms.IntegerField(label=_("Month"), min_value=1, max_value=12)


class InvoiceFilterForm(forms.Form):
    tenant = forms.ModelChoiceField(
        label=_("Tenant"), queryset=Tenant.objects.none(), required=False, empty_label=_("All")
    )
    year = forms.IntegerField(
        label=_("Year"), min_value=MIN_YEAR, max_value=MAX_YEAR, required=False
    )
    month = forms.IntegerField(label=_("Month"), min_value=1, max_value=12, required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All")), *InvoiceStatus.choices], required=False
    )

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = tenants


class InvoiceDraftForm(_MonthFields):
    tenant = forms.ModelChoiceField(label=_("Tenant"), queryset=Tenant.objects.none())

    field_order = ["tenant", "year", "month"]

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = tenants


class UsageDownloadForm(_MonthFields):
    """A month of usage (in the tenant's zone; UTC for all tenants) as a file."""

    tenant = forms.ModelChoiceField(
        label=_("Tenant"), queryset=Tenant.objects.none(), required=False, empty_label=_("All")
    )
    format = forms.ChoiceField(label=_("Format"), choices=[(f, f.upper()) for f in FORMATS])
    group_by = forms.ChoiceField(
        label=_("Group by"),
        choices=[("", _("Nothing")), ("cost_centre", _("Cost centre"))],
        required=False,
    )

    field_order = ["tenant", "year", "month", "format", "group_by"]

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = tenants
