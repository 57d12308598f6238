"""Remove a user's authenticator and recovery codes (a lost phone, the last platform admin's)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import twofactor
from portal.models import User


class Command(BaseCommand):
    help = (
        "Turn off a user's two-factor sign-in (audited); a platform role sets up a new "
        "authenticator at its next sign-in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        twofactor.two_factor_disable(user=user, disabled_by=None)
        self.stdout.write(f"Two-factor sign-in of {user.username} is off.")
