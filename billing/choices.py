"""Kinds of usage events and the resources they are charged for."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class UsageKind(models.TextChoices):
    """A fact that starts, stops or changes a charge."""

    CREATED = "created", _("Created (disk allocated)")
    STARTED = "started", _("Started")
    STOPPED = "stopped", _("Stopped")
    RESIZED = "resized", _("Resized")
    DELETED = "deleted", _("Deleted")
    SNAPSHOT_CREATED = "snapshot_created", _("Snapshot created")
    SNAPSHOT_DELETED = "snapshot_deleted", _("Snapshot deleted")


class Resource(models.TextChoices):
    """What a usage line charges for; CPU, RAM and flavor while running, disk while it exists."""

    CPU = "cpu", _("vCPU")
    RAM = "ram", _("RAM")
    DISK = "disk", _("Disk")
    FLAVOR = "flavor", _("Flavor")
    SNAPSHOT = "snapshot", _("Snapshots")
    # Data volumes, at the disk price; last, as the SQL path ranks resources by position.
    VOLUME = "volume", _("Volume")


# The unit of a line's quantity, for people reading a usage report.
RESOURCE_UNITS: dict[str, str] = {
    Resource.CPU: "vCPU",
    Resource.RAM: "GiB",
    Resource.DISK: "GiB",
    Resource.FLAVOR: "flavor",
    Resource.SNAPSHOT: "GiB",
    Resource.VOLUME: "GiB",
}


class InvoiceStatus(models.TextChoices):
    """A draft is rebuilt at will; an issued invoice never changes again."""

    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")


class InvoiceKind(models.TextChoices):
    """A credit note reverses an issued invoice; it is the only correction there is."""

    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")
