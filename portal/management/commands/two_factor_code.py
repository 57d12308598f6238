"""The demo only: print a demo user's current two-factor code, for those without an app."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import TOTP

from portal import twofactor
from portal.models import User


class Command(BaseCommand):
    help = "Demo only (NUAGE_DEMO=1): print the current two-factor code of a demo user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO:
            raise CommandError("Only in the demo (NUAGE_DEMO=1): elsewhere, use your app.")
        user = User.objects.filter(username=options["username"]).first()
        device = twofactor.confirmed_device(user) if user is not None else None
        if device is None:
            raise CommandError(f"{options['username']!r} has no authenticator.")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()
        left = device.step - int(totp.time - device.t0) % device.step
        self.stdout.write(f"{totp.token():0{device.digits}d}  (valid for {left} s more)")
