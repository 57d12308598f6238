"""Forms of the quotas UI: limits, a quota increase request, a decision."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.models import Environment, User
from portal.permissions import Perm, has_perm
from portal.selectors import environment_list
from quotas.choices import MAX_AMOUNT, RESOURCES, Resource


def _amount_field(resource: str, *, min_value: int, required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=Resource(resource).label,
        required=required,
        min_value=min_value,
        max_value=MAX_AMOUNT[resource],
    )


class LimitsForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for r in RESOURCES:
            self.fields[r] = _amount_field(r, min_value=0, required=True)


class QuotaRequestForm(forms.Form):
    environment: forms.ModelChoiceField[Environment] = forms.ModelChoiceField(
        queryset=Environment.objects.none(), label=_("Environment")
    )
    reason = forms.CharField(
        label=_("Why"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        envs = environment_list(fetched_by=user)
        allowed = [e.pk for e in envs if has_perm(user, e.tenant, Perm.QUOTA_REQUEST)]
        self.fields["environment"].queryset = envs.filter(pk__in=allowed)  # type: ignore[attr-defined]
        self.fields["environment"].label_from_instance = (  # type: ignore[attr-defined]
            lambda env: f"{env.tenant.name} / {env.name}"
        )
        for r in RESOURCES:
            field = _amount_field(r, min_value=1, required=False)
            field.help_text = _("How much more; leave empty for none.")
            self.fields[f"more_{r}"] = field

    def amounts(self) -> dict[str, int]:
        return {
            r: self.cleaned_data[f"more_{r}"]
            for r in RESOURCES
            if self.cleaned_data.get(f"more_{r}") is not None
        }
