"""Production settings pass Django's deployment checklist without a single warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_check_deploy_with_production_settings_prints_no_warning():
    env = {
        key: value
        for key, value in os.environ.items()
        # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into "production".
        if not key.startswith(("SECURE_", "SESSION_", "CSRF_", "NUAGE_DEMO", "DEBUG"))
        and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
        ALLOWED_HOSTS="nuage.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/nuage",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output.replace("WARNINGS:", "")


def test_the_demo_is_not_production():
    """The deploy check must be able to fail: DEBUG on is a warning it reports."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", NUAGE_DEMO="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr  # DEBUG


SSO_PROBE = """
import django
django.setup()
from django.conf import settings
from django.test import Client
settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"  # no database here
page = Client().get("/login/").content.decode()
print("backend" if "portal.oidc.NuageOIDCBackend" in settings.AUTHENTICATION_BACKENDS else "-")
print("button" if 'data-action="sso"' in page else "-")
print(Client().get("/oidc/authenticate/").status_code)
"""


def _probe(extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", ALLOWED_HOSTS="testserver", **extra)
    result = subprocess.run(
        [sys.executable, "-c", SSO_PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_single_sign_on_is_off_unless_configured_and_on_when_it_is():
    assert _probe({}) == ["-", "-", "404"]
    idp = "https://idp.example.com/realms/nuage/protocol/openid-connect"
    configured = {
        "OIDC_RP_CLIENT_ID": "nuage",
        "OIDC_RP_CLIENT_SECRET": "not-a-real-secret",
        "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{idp}/auth",
        "OIDC_OP_TOKEN_ENDPOINT": f"{idp}/token",
        "OIDC_OP_USER_ENDPOINT": f"{idp}/userinfo",
        "OIDC_OP_JWKS_ENDPOINT": f"{idp}/certs",
    }
    # On: the button shows and the sign-on starts with a redirect to the identity provider.
    assert _probe(configured) == ["backend", "button", "302"]
