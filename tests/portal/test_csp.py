"""The Content-Security-Policy header, and no template that would need an exception to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import csp

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/vms/", "/account/two-factor/"])
def test_every_answer_carries_the_policy(client, world, path):
    client.force_login(world.member)
    answer = client.get(path)
    policy = answer["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"


def test_a_separate_console_server_is_allowed_to_connect(settings):
    settings.NUAGE = {**settings.NUAGE, "CONSOLE_URL": "wss://consoles.example.net"}
    assert "connect-src 'self' wss://consoles.example.net" in csp.policy()


def test_the_api_docs_load_their_script_from_a_file(client, world):
    client.force_login(world.member)
    page = client.get("/api/docs/").content.decode()
    assert re.findall(r"<script>", page) == []


def test_no_template_has_an_inline_script_or_handler():
    found = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        # <script> without src (JSON data blocks are not run, so they are allowed).
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                found.append(f"{path.name}: {tag}")
        for handler in re.findall(r"\son[a-z]+\s*=", text):
            found.append(f"{path.name}: {handler.strip()}")
        if "javascript:" in text:
            found.append(f"{path.name}: javascript: URL")
    assert found == []
