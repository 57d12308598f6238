"""Django's PostgreSQL backend, with a connection health check that costs no round trip while
the server has sent nothing.

With CONN_HEALTH_CHECKS (our default: a restarted PostgreSQL must cost a reconnection, not a
failed request) Django runs `SELECT 1` before the first query of every request and of every
Celery task: a round trip to the server each time, about as long as one of a page's reads. A
connection that the server ended (restart, `pg_terminate_backend`, an idle timeout) has
something to read on its socket, the server's farewell message or the end of the stream, and an
idle healthy one has nothing. So: nothing to read on an idle connection, usable; anything else,
Django's own check, which reconnects when it fails. A server that vanished without a word (no
FIN) would hang `SELECT 1` too: TCP keepalives, not this check, find those.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import Error as PsycopgError
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            idle = conn.pgconn.transaction_status == TransactionStatus.IDLE
            readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
        except (OSError, ValueError, PsycopgError):
            return bool(super().is_usable())
        if idle and not readable:
            return True
        return bool(super().is_usable())
