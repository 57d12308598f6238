"""Nuage's database backends (settings.DATABASES ENGINE)."""
