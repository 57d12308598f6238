"""Domain errors raised by services; the API and the UI turn them into clear answers."""

from __future__ import annotations


class ConflictError(Exception):
    """The request is valid but the object's current state does not allow it (HTTP 409)."""

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state


class RateLimited(Exception):
    """Too soon after the same request (HTTP 429, with Retry-After)."""

    def __init__(self, message: str, *, wait: float) -> None:
        super().__init__(message)
        self.message = message
        self.wait = wait
