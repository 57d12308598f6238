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

    start = forms.DateField(
        label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"})
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
