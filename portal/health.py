"""Operators' endpoints: /healthz (the process answers), /readyz (it can do its work), /metrics.

/healthz touches nothing (no database): a load balancer or an orchestrator restarts a process
that stops answering it. /readyz checks the database, the broker and that at least one Celery
worker answers a ping, and summarises the hosts; 503 when one check fails, so that traffic goes
to another instance. /metrics is Prometheus's, for a bearer token or an allowed network only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import metrics

logger = logging.getLogger(__name__)

# name -> a function returning a JSON-friendly summary (the hosts by status...): shown by
# /readyz, registered by the apps from their AppConfig.ready.
Summary = Callable[[], dict[str, Any]]
_SUMMARIES: dict[str, Summary] = {}


def register_summary(name: str, summary: Summary) -> None:
    _SUMMARIES[name] = summary


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _check(name: str, check: Callable[[], Any], results: dict[str, Any]) -> bool:
    started = time.monotonic()
    try:
        detail = check()
        ok = True
    except Exception as exc:
        logger.warning("readiness check %s failed: %s", name, exc)
        detail, ok = str(exc) or type(exc).__name__, False
    result: dict[str, Any] = {"ok": ok, "ms": round((time.monotonic() - started) * 1000, 1)}
    if isinstance(detail, dict):
        result.update(detail)
    elif detail not in (None, ""):
        result["detail"] = detail
    results[name] = result
    return ok


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _timeout() -> float:
    return float(settings.NUAGE.get("READY_TIMEOUT_SECONDS", 1.0))


def _broker() -> None:
    from portal.celery import app

    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=math.ceil(_timeout()))


def _workers() -> dict[str, Any]:
    from portal.celery import app

    replies = app.control.ping(timeout=_timeout()) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError("no Celery worker answered a ping")
    return {"count": len(names), "names": names}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    results: dict[str, Any] = {}
    ready = _check("database", _database, results)
    broker_ok = _check("broker", _broker, results)
    ready = broker_ok and ready
    if broker_ok:
        ready = _check("workers", _workers, results) and ready
    else:
        results["workers"] = {"ok": False, "detail": "broker unreachable"}
    if results["database"]["ok"]:
        for name, summary in _SUMMARIES.items():
            try:
                results[name] = summary()
            except Exception as exc:  # informative only: never what makes a process unready
                results[name] = {"error": str(exc)}
    body = {"status": "ready" if ready else "not ready", "checks": results}
    return JsonResponse(body, status=200 if ready else 503)


def _client_allowed(request: HttpRequest) -> bool:
    networks = settings.NUAGE.get("METRICS_ALLOWED_NETWORKS") or []
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


def _token_ok(request: HttpRequest) -> bool:
    token = settings.NUAGE.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format, for the bearer token or an allowed network; 404 when
    neither is configured (the endpoint does not exist), 403 for anyone else."""
    if not settings.NUAGE.get("METRICS_TOKEN") and not settings.NUAGE.get(
        "METRICS_ALLOWED_NETWORKS"
    ):
        return HttpResponse(status=404)
    if not (_token_ok(request) or _client_allowed(request)):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
