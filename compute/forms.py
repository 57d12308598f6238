"""Forms of the compute UI; choices come from selectors so nobody sees another tenant's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from compute import selectors
from compute.choices import NetworkKind
from compute.models import DrsSettings, Flavor, Image, Network
from portal.models import Environment, KeyPair, User
from portal.permissions import Perm, has_perm
from portal.selectors import environment_list, keypair_list
from portal.sshkeys import validate_public_key


class VMRequestForm(forms.Form):
    environment: forms.ModelChoiceField[Environment] = forms.ModelChoiceField(
        queryset=Environment.objects.none(), label=gettext_lazy("Environment")
    )
    flavor: forms.ModelChoiceField[Flavor] = forms.ModelChoiceField(
        queryset=Flavor.objects.none(), label=gettext_lazy("Flavor")
    )
    image: forms.ModelChoiceField[Image] = forms.ModelChoiceField(
        queryset=Image.objects.none(), label=gettext_lazy("Image")
    )
    name = forms.CharField(
        max_length=63,
        label=gettext_lazy("Name"),
        help_text=gettext_lazy("Lowercase letters, digits and hyphens, unique in the tenant."),
    )
    key_pairs: forms.ModelMultipleChoiceField[KeyPair] = forms.ModelMultipleChoiceField(
        queryset=KeyPair.objects.none(),
        required=False,
        label=gettext_lazy("Key pairs"),
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Your SSH keys the VM lets in as root."),
    )
    ssh_public_key = forms.CharField(
        required=False,
        max_length=16 * 1024,
        label=gettext_lazy("Other SSH public key"),
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[validate_public_key],
        help_text=gettext_lazy("One line such as ssh-ed25519 AAAA… you@laptop."),
    )
    justification = forms.CharField(
        required=False,
        max_length=2000,
        label=gettext_lazy("Justification"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Why you need it, for the approvers (some environments require it)."
        ),
    )
    network: forms.ModelChoiceField[Network] = forms.ModelChoiceField(
        queryset=Network.objects.none(),
        required=False,
        label=gettext_lazy("Network"),
        empty_label=gettext_lazy("The environment's default"),
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
        self.fields["environment"].label_from_instance = _environment_label  # type: ignore[attr-defined]
        self.fields["key_pairs"].queryset = keypair_list(fetched_by=user)  # type: ignore[attr-defined]
        self.fields["key_pairs"].label_from_instance = (  # type: ignore[attr-defined]
            lambda kp: f"{kp.name} ({kp.key_type}, {kp.fingerprint})"
        )
        self.fields["network"].queryset = selectors.network_list(fetched_by=user)  # type: ignore[attr-defined]
        self.fields["network"].label_from_instance = _network_label  # type: ignore[attr-defined]


def _network_label(network: Network) -> str:
    where = network.subnet or NetworkKind(network.kind).label
    return f"{network.name} ({where})"


def _environment_label(env: Environment) -> str:
    """ "Apollo / production (approval required)", saying when small requests skip approval."""
    label = f"{env.tenant.name} / {env.name}"
    if not env.requires_approval:
        return label
    limits = [
        ngettext("%(n)s vCPU", "%(n)s vCPU", n) % {"n": n}
        for n in [env.auto_approve_max_vcpus]
        if n is not None
    ] + [_("%(n)s MiB") % {"n": n} for n in [env.auto_approve_max_ram_mib] if n is not None]
    if limits:
        return _("%(env)s (approval required above %(limits)s)") % {
            "env": label,
            "limits": " / ".join(limits),
        }
    return _("%(env)s (approval required)") % {"env": label}


class RejectForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000)


class VMListFilterForm(forms.Form):
    """The VM list's filters and order, from the query string; a bad value is a form error."""

    q = forms.CharField(max_length=63, required=False, label=gettext_lazy("Name contains"))
    state = forms.ChoiceField(required=False, label=gettext_lazy("State"))
    kind = forms.ChoiceField(required=False, label=gettext_lazy("Kind"))
    environment = forms.ChoiceField(required=False, label=gettext_lazy("Environment"))
    sort = forms.ChoiceField(required=False, label=gettext_lazy("Sort by"))
    # "My VMs" (mine) or every VM of the tenant the user may see (the default).
    scope = forms.ChoiceField(
        required=False,
        choices=[("", gettext_lazy("Tenant VMs")), ("mine", gettext_lazy("My VMs"))],
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, environments: Iterable[str] = (), **kwargs: Any) -> None:
        """`environments`: the names the environment select offers (those the user sees)."""
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [  # type: ignore[attr-defined]
            ("", gettext_lazy("All environments")),
            *((name, name) for name in environments),
        ]
        from compute.choices import VMState

        states = [(s.value, s.label) for s in VMState if s != VMState.DELETED]
        self.fields["state"].choices = [("", gettext_lazy("All states")), *states]  # type: ignore[attr-defined]
        from compute.choices import VMKind

        self.fields["kind"].choices = [("", gettext_lazy("VMs and containers")), *VMKind.choices]  # type: ignore[attr-defined]
        self.fields["sort"].choices = [  # type: ignore[attr-defined]
            ("-created", gettext_lazy("Newest first")),
            ("created", gettext_lazy("Oldest first")),
            ("name", gettext_lazy("Name A–Z")),
            ("-name", gettext_lazy("Name Z–A")),
            ("state", gettext_lazy("State")),
        ]


class DrsSettingsForm(forms.ModelForm):
    class Meta:
        model = DrsSettings
        fields = ["mode", "max_moves", "threshold", "interval_minutes", "window_minutes"]
        labels = {
            "mode": gettext_lazy("Mode"),
            "max_moves": gettext_lazy("Migrations per cycle"),
            "threshold": gettext_lazy("Minimum gain"),
            "interval_minutes": gettext_lazy("Minutes between cycles"),
            "window_minutes": gettext_lazy("Minutes of samples"),
        }
        help_texts = {
            "threshold": gettext_lazy(
                "A move is recommended only if it lowers the imbalance by at least this much "
                "(in a pool of more than 10 hosts, by this much times 10 / hosts: one move "
                "changes a larger pool's imbalance less)."
            ),
            "window_minutes": gettext_lazy("Loads are averaged over this many minutes."),
        }


class NetworkForm(forms.Form):
    """A network as platform admins enter it; the service checks the fields together."""

    name = forms.CharField(max_length=63, label=gettext_lazy("Name"))
    kind = forms.ChoiceField(choices=NetworkKind.choices, label=gettext_lazy("Kind"))
    bridge = forms.CharField(
        max_length=15,
        required=False,
        label=gettext_lazy("Host bridge"),
        help_text=gettext_lazy("Bridge networks only, e.g. br0."),
    )
    subnet = forms.CharField(
        max_length=49,
        required=False,
        label=gettext_lazy("Subnet"),
        help_text=gettext_lazy("CIDR, e.g. 10.20.0.0/24; none for user networks."),
    )
    gateway = forms.CharField(max_length=45, required=False, label=gettext_lazy("Gateway"))
    pool_start = forms.CharField(max_length=45, required=False, label=gettext_lazy("Pool start"))
    pool_end = forms.CharField(max_length=45, required=False, label=gettext_lazy("Pool end"))
    dns_servers = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("DNS servers"),
        help_text=gettext_lazy("Up to 4 addresses, separated by spaces or commas."),
    )

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in ("gateway", "pool_start", "pool_end"):
            data[name] = data[name] or None
        return data
