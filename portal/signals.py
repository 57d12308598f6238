"""Signals other apps listen to (portal is the lowest layer: it tells, it does not call)."""

from django.dispatch import Signal

# An environment's lease policy changed (after the commit); kwargs: environment_id.
lease_policy_changed = Signal()
