"""Forms of the compute UI; choices come from selectors so nobody sees another tenant's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from compute import selectors
from compute.models import Flavor, Image
from portal.models import Environment, User
from portal.permissions import Perm, has_perm
from portal.selectors import environment_list


class VMRequestForm(forms.Form):
    environment: forms.ModelChoiceField[Environment] = forms.ModelChoiceField(
        queryset=Environment.objects.none(), label=_("Environment")
    )
    flavor: forms.ModelChoiceField[Flavor] = forms.ModelChoiceField(
        queryset=Flavor.objects.none(), label=_("Flavor")
    )
    image: forms.ModelChoiceField[Image] = forms.ModelChoiceField(
        queryset=Image.objects.none(), label=_("Image")
    )
    name = forms.CharField(
        max_length=63,
        label=_("Name"),
        help_text=_("Lowercase letters, digits and hyphens, unique in the tenant."),
    )
    ssh_public_key = forms.CharField(
        required=False, label=_("SSH public key"), widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        envs = [
            env.pk
            for env in environment_list(fetched_by=user)
            if has_perm(user, env.tenant, Perm.VM_REQUEST)
        ]
        self.fields["environment"].queryset = environment_list(fetched_by=user).filter(pk__in=envs)  # type: ignore[attr-defined]
        self.fields["flavor"].queryset = selectors.flavor_list(fetched_by=user)  # type: ignore[attr-defined]
        self.fields["image"].queryset = selectors.image_list(fetched_by=user)  # type: ignore[attr-defined]
        self.fields["environment"].label_from_instance = (  # type: ignore[attr-defined]
            lambda env: (
                f"{env.tenant.name} / {env.name}"
                + (f" ({_('approval required')})" if env.requires_approval else "")
            )
        )


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000)
