"""What each audit action means, in words: the audit log shows "Resize requested", not
`vm.resize_request`. Codes stay in the data (filters, CSV, API); only the page reads these."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ACTION_LABELS: dict[str, Promise] = {
    "budget.delete": _("Budget removed"),
    "budget.set": _("Budget set"),
    "budget.threshold": _("Budget threshold reached"),
    "drs.dismiss": _("Load-balancing move dismissed"),
    "drs.run": _("Load balancing run"),
    "drs.settings_update": _("Load-balancing settings changed"),
    "drs.stale": _("Load-balancing move out of date"),
    "environment.create": _("Environment created"),
    "environment.policy_approve": _("Environment policy change approved"),
    "environment.policy_propose": _("Environment policy change proposed"),
    "environment.policy_reject": _("Environment policy change rejected"),
    "environment.update": _("Environment changed"),
    "flavor.create": _("Flavor created"),
    "flavor.update": _("Flavor changed"),
    "host.down": _("Host unreachable"),
    "host.maintenance.enter": _("Host put in maintenance"),
    "host.orphan.destroy": _("Unknown guest removed from a host"),
    "host.register": _("Host added"),
    "host.rolling_maintenance.cancel": _("Rolling maintenance cancelled"),
    "host.rolling_maintenance.continue": _("Rolling maintenance continued"),
    "host.rolling_maintenance.start": _("Rolling maintenance started"),
    "host.up": _("Host reachable again"),
    "host.update": _("Host changed"),
    "image.create": _("Image added"),
    "image.import": _("Image imported"),
    "image.import_start": _("OVA import started"),
    "invitation.accept": _("Invitation accepted"),
    "invitation.create": _("Invitation sent"),
    "invitation.revoke": _("Invitation withdrawn"),
    "invoice.credit_note": _("Credit note issued"),
    "invoice.draft": _("Invoice drafted"),
    "invoice.issue": _("Invoice issued"),
    "keypair.create": _("SSH key added"),
    "keypair.delete": _("SSH key removed"),
    "membership.create": _("Member added"),
    "membership.delete": _("Member removed"),
    "membership.update": _("Member's role changed"),
    "network.create": _("Network created"),
    "network.delete": _("Network deleted"),
    "network.grant": _("Network shared"),
    "network.revoke": _("Network sharing withdrawn"),
    "network.update": _("Network changed"),
    "oidc.link": _("Single sign-on account linked"),
    "price_list.create": _("Price list created"),
    "price_list.delete": _("Price list deleted"),
    "price_list.end": _("Price list ended"),
    "quota.defaults_update": _("Default quotas changed"),
    "quota.update": _("Quota changed"),
    "quota_request.approve": _("Quota increase approved"),
    "quota_request.create": _("Quota increase requested"),
    "quota_request.reject": _("Quota increase rejected"),
    "tenant.billing_update": _("Billing details changed"),
    "tenant.create": _("Tenant created"),
    "token.create": _("API token created"),
    "token.revoke": _("API token revoked"),
    "two_factor.disable": _("Two-factor sign-in turned off"),
    "two_factor.enable": _("Two-factor sign-in turned on"),
    "two_factor.recovery_codes": _("New recovery codes made"),
    "user.create": _("User created"),
    "user.password_change": _("Password changed"),
    "vm.adopt": _("VM adopted from a host"),
    "vm.approve": _("VM request approved"),
    "vm.auto_approve": _("VM request approved automatically"),
    "vm.console_open": _("Console opened"),
    "vm.delete": _("VM deletion requested"),
    "vm.domain_vanished": _("VM vanished from its host"),
    "vm.export": _("VM exported"),
    "vm.fenced": _("VM fenced on a lost host"),
    "vm.force_off": _("VM forced off"),
    "vm.ha_restart": _("VM restarted after a host failure"),
    "vm.host_back": _("VM's host back"),
    "vm.host_lost": _("VM's host lost"),
    "vm.migrate": _("Live migration requested"),
    "vm.nic.allocate": _("IP address given"),
    "vm.nic.release": _("IP address released"),
    "vm.reject": _("VM request rejected"),
    "vm.request": _("VM requested"),
    "vm.resize": _("VM resized"),
    "vm.resize_approve": _("Resize approved"),
    "vm.resize_reject": _("Resize rejected"),
    "vm.resize_request": _("Resize requested"),
    "vm.resize_requested": _("Resize requested"),
    "vm.resize_withdraw": _("Resize request withdrawn"),
    "vm.snapshot.create": _("Snapshot taken"),
    "vm.snapshot.delete": _("Snapshot deleted"),
    "vm.snapshot.revert": _("VM reverted to a snapshot"),
    "vm.snapshot_schedule.remove": _("Snapshot schedule removed"),
    "vm.snapshot_schedule.set": _("Snapshot schedule set"),
    "vm.start": _("Start requested"),
    "vm.stop": _("Stop requested"),
    "vm.reboot": _("Reboot requested"),
    "volume.attach": _("Volume attached"),
    "volume.create": _("Volume created"),
    "volume.delete": _("Volume deleted"),
    "volume.detach": _("Volume detached"),
    "volume.failed": _("Volume operation failed"),
    "volume.resize": _("Volume grown"),
    "webhook.create": _("Webhook added"),
    "webhook.delete": _("Webhook removed"),
    "webhook.update": _("Webhook changed"),
}

# Operations' outcomes: "vm.<kind>.succeeded" / "vm.<kind>.failed".
OPERATION_LABELS: dict[str, Promise] = {
    "provision": _("Creation"),
    "start": _("Start"),
    "stop": _("Stop"),
    "reboot": _("Reboot"),
    "delete": _("Deletion"),
    "migrate": _("Live migration"),
    "recover": _("Restart after host failure"),
    "snapshot_create": _("Snapshot"),
    "snapshot_revert": _("Revert to snapshot"),
    "snapshot_delete": _("Snapshot deletion"),
    "resize": _("Resize"),
    "resize_move": _("Resize on another host"),
}


def action_label(code: str) -> str:
    """The words for an audit action; an unknown code is shown as it is rather than hidden."""
    if code in ACTION_LABELS:
        return str(ACTION_LABELS[code])
    parts = code.split(".")
    if len(parts) == 3 and parts[0] == "vm" and parts[1] in OPERATION_LABELS:
        what = OPERATION_LABELS[parts[1]]
        if parts[2] == "succeeded":
            return str(_("%(operation)s finished") % {"operation": what})
        if parts[2] == "failed":
            return str(_("%(operation)s failed") % {"operation": what})
    if len(parts) == 3 and parts[2] == "admin":
        return str(_("Changed in the administration (%(code)s)") % {"code": code})
    return code


def action_choices() -> list[tuple[str, str]]:
    """The audit filter's choices: every known action, by its words."""
    return sorted(((code, str(label)) for code, label in ACTION_LABELS.items()), key=lambda c: c[1])
