"""Forms of the cost pages: a tenant's budget, the finance page's period."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import periods
from portal.models import Tenant, User
from portal.selectors import tenant_list

MAX_PERIOD_DAYS = periods.MAX_PERIOD_DAYS


class BudgetForm(forms.Form):
    # The amount's rules (above zero, not negative) are the service's, shown on this field.
    amount = forms.DecimalField(
        label=gettext_lazy("Monthly budget"),
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    block_requests = forms.BooleanField(
        label=gettext_lazy("Refuse new VM requests once the month's cost reaches the budget"),
        required=False,
    )


class PeriodForm(forms.Form):
    """From and to dates, both included, cut at midnight in the chosen tenant's zone."""

    # Date inputs show and send ISO dates whatever the language: a French "06/12/2026" as
    # their value would leave them blank. Typed dates in the language's order are accepted too.
    start = forms.DateField(
        label=gettext_lazy("First day"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("Last day"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    tenant: forms.ModelChoiceField[Tenant] = forms.ModelChoiceField(
        queryset=Tenant.objects.none(),
        to_field_name="slug",
        required=False,
        label=gettext_lazy("Tenant"),
        empty_label=gettext_lazy("All tenants"),
    )

    def __init__(self, *args: Any, user: User, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["tenant"].queryset = tenant_list(fetched_by=user)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and start > self.today:
            self.add_error("start", _("The period has not begun yet."))
        elif start and end:
            if end < start:
                self.add_error("end", _("The end must come after the start."))
            elif end - start >= timedelta(days=MAX_PERIOD_DAYS):
                self.add_error(
                    "end", _("Choose at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}
                )
        return data


# datetime-local inputs send "2026-01-01T00:00"; a bare date is midnight.
INSTANT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _instant_field(label: Any, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=INSTANT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def _price_field(label: Any) -> forms.DecimalField:
    # Negative prices and the like are the service's rules, shown on these fields.
    return forms.DecimalField(
        label=label,
        max_digits=14,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "0.000001", "inputmode": "decimal"}),
    )


class PriceListForm(forms.Form):
    """A new price list; its instants are read in the platform's time zone."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3)
    effective_from = _instant_field(gettext_lazy("Applies from"))
    vcpu_hour = _price_field(gettext_lazy("Per vCPU-hour"))
    ram_gib_hour = _price_field(gettext_lazy("Per GiB of RAM-hour"))
    disk_gib_hour = _price_field(gettext_lazy("Per GiB of disk-hour"))
    snapshot_gib_hour = _price_field(gettext_lazy("Per GiB of snapshot-hour"))


class PriceListEndForm(forms.Form):
    effective_to = _instant_field(gettext_lazy("Ends at"))


class PriceListAtForm(forms.Form):
    at = _instant_field(gettext_lazy("Which list applies at"), required=False)
