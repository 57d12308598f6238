"""The ASGI application (pages and the consoles' websockets) served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def asgi_server() -> Iterator[str]:
    """Serve portal.asgi on 127.0.0.1 (a free port) for the block; yield its base URL.

    In-process, so it uses the test database like pytest-django's live_server (the test must
    commit its rows: transactional_db).
    """
    from portal.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        application, ws="wsproto", lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    # The server's connections close at the end of each request and websocket call (Django's
    # and Channels' close_old_connections): opened in contexts and threads of the server's own,
    # persistent ones would outlive the block and block the test database's drop at the end.
    settings_dict = connections.settings[DEFAULT_DB_ALIAS]
    max_age = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="asgi-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        settings_dict["CONN_MAX_AGE"] = max_age
