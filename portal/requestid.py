"""Request ids: one per HTTP request, carried into the Celery tasks it causes, the log lines of
both, and the audit entries they write.

The id lives in a context variable. The middleware sets it (from a sane `X-Request-ID` header
or a new UUID) and answers with it; `before_task_publish` copies it into the headers of every
task sent meanwhile, and `task_prerun` restores it in the worker for the task's duration, so
that a task sent by a task (the next provisioning step) carries it on too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# The Celery message header that carries it.
TASK_HEADER = "nuage_request_id"
# What a client may choose as its id: what tracing proxies send (UUIDs, hex, base64-ish
# tokens), never spaces, quotes or control characters that would spoil a log line.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,99}\Z")

_current: ContextVar[str] = ContextVar("nuage_request_id", default="")


def current() -> str:
    """The id of the request (or of the request that caused this task); "" outside both."""
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def sane(value: str | None) -> str | None:
    """The client's id if it is one we can log and store as it is, else None."""
    if value and _SANE.match(value):
        return value
    return None


def bind(request_id: str) -> Token[str]:
    return _current.set(request_id)


def unbind(token: Token[str]) -> None:
    _current.reset(token)


class RequestIdMiddleware:
    """First of the middleware: every log line and audit entry of the request has the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = sane(request.headers.get(HEADER)) or new_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind(request_id)
        try:
            response = self.get_response(request)
        finally:
            unbind(token)
        response[HEADER] = request_id
        return response


# --- Celery: the id travels in the task's headers ------------------------------------------

_task_tokens: dict[str, Token[str]] = {}


@before_task_publish.connect
def _publish_with_request_id(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    request_id = current()
    if request_id and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


@task_prerun.connect
def _task_bind(task_id: str | None = None, task: Any = None, **_kwargs: Any) -> None:
    request = getattr(task, "request", None)
    request_id = sane(getattr(request, TASK_HEADER, None)) if request is not None else None
    if request_id is None:
        # An eager task runs inside the request and keeps its id; a beat task has none.
        return
    if task_id:
        _task_tokens[task_id] = bind(request_id)


@task_postrun.connect
def _task_unbind(task_id: str | None = None, **_kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            unbind(token)
        except ValueError:  # set in another context (a pool that switched threads): reset it
            _current.set("")
