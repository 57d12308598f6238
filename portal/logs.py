"""Log lines as one JSON object each (LOG_FORMAT=json), with the request id and the Celery task."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

from portal import requestid

# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "task_id", "task_name"}
)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (and, inside a Celery task, `task_id` and `task_name`) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = requestid.current()
        task_id, task_name = "", ""
        try:
            from celery import current_task

            if current_task and current_task.request.id:
                task_id, task_name = current_task.request.id, current_task.name
        except Exception:  # noqa: S110 - logging never fails because of Celery
            pass
        record.task_id, record.task_name = task_id, task_name
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id", …, extra fields, "exc_info"}."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "task_id", "task_name"):
            value = getattr(record, key, "")
            if value:
                line[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def _celery_handlers_format(logger: logging.Logger | None = None, **_kwargs: Any) -> None:
    """Celery's worker sets up its own handlers (`--logfile`, `--loglevel`): give them the
    project's format (LOG_FORMAT) and the request id."""
    from django.conf import settings

    if logger is None:
        return
    plain = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    for handler in logger.handlers:
        handler.setFormatter(
            JsonFormatter() if settings.LOG_FORMAT == "json" else logging.Formatter(plain)
        )
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


after_setup_logger.connect(_celery_handlers_format, weak=False)
after_setup_task_logger.connect(_celery_handlers_format, weak=False)
