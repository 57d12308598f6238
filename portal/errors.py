"""Domain errors raised by services; the API and the UI turn them into clear answers."""

from __future__ import annotations


class ConflictError(Exception):
    """The request is valid but the object's current state does not allow it (HTTP 409)."""

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state
