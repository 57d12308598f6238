"""Errors raised by the hypervisor layer, worded for the person who will read them."""


class HypervisorError(Exception):
    """A libvirt call failed; the message is fit to show to the VM's owner."""


class HostUnreachable(HypervisorError):
    """The host's libvirt daemon could not be reached."""


class HostTimeout(HostUnreachable):
    """The host's libvirt daemon did not answer a call in time (overloaded, hung, cut off)."""
