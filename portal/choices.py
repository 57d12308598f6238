"""Roles and other enumerations of the portal app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """A user's role inside one tenant."""

    MEMBER = "member", _("Member")
    APPROVER = "approver", _("Approver")
    ADMIN = "admin", _("Tenant admin")


class PlatformRole(models.TextChoices):
    """A user's platform-wide role, independent of tenants."""

    NONE = "", _("None")
    ADMIN = "admin", _("Platform admin")
    FINANCE = "finance", _("Finance")
