"""The web server as the Dockerfile and docker-compose.yml run it: a request that lasts longer
than gunicorn's timeout (an OVA upload or export download of several GiB) is served to its end,
not cut off by gunicorn killing a sync worker that looks hung."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def dockerfile_command() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the Dockerfile's CMD is a JSON array"
    return list(json.loads(match.group(1)))


def _options(command: list[str]) -> dict[str, str]:
    """gunicorn's options of a command (`--name value` or `--name=value`), by name."""
    options: dict[str, str] = {}
    args = iter(command[2:])  # gunicorn, the app
    for arg in args:
        name, sep, value = arg.partition("=")
        options[name] = value if sep else next(args)
    return options


def test_compose_runs_the_web_server_as_the_dockerfile_does():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = _options(compose["services"]["web"]["command"])
    image = _options(dockerfile_command())
    assert web["--worker-class"] == image["--worker-class"] == "gthread"
    assert web["--threads"] == "${WEB_THREADS:-4}" and image["--threads"] == "4"


def test_a_request_longer_than_the_timeout_is_served_to_its_end(tmp_path):
    # A WSGI app whose answer takes 3 s, served with the image's options and a 1 s timeout:
    # a sync worker is killed after 1-2 s (the client sees its connection closed).
    (tmp_path / "slowapp.py").write_text(
        "import time\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    time.sleep(3)\n"
        "    return [b'all of it']\n"
    )
    options = _options(dockerfile_command())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable, "-m", "gunicorn", "slowapp:app", "--chdir", str(tmp_path),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "1",
        "--worker-class", options["--worker-class"], "--threads", options["--threads"],
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as answer:
            assert (answer.status, answer.read()) == (200, b"all of it")
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert b"WORKER TIMEOUT" not in err, err.decode(errors="replace")
