"""Nuage project package: settings, tenants, users and the UI shell."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
