"""compute reaches the apps built on it only through what they plug in at startup: loads from
metering, the ledger and budgets from billing, quotas from quotas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.ledger import usage_record_transition as billing_usage_record_transition
from compute import loads, ports
from metering import selectors as metering_selectors
from quotas.services import quota_reserve as quotas_quota_reserve


def test_the_apps_plug_themselves_in_at_startup():
    assert loads._source is metering_selectors
    assert ports._plugged.usage_record_transition is billing_usage_record_transition
    assert ports._plugged.quota_reserve is quotas_quota_reserve


def test_without_metering_every_load_is_unknown(monkeypatch):
    monkeypatch.setattr(loads, "_source", None)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert loads.host_loads(since) == {}
    assert loads.vm_loads(since) == {}


def test_without_billing_or_quotas_a_charge_or_a_quota_is_never_skipped(monkeypatch):
    monkeypatch.setattr(ports, "_plugged", ports._Plugged())
    with pytest.raises(ImproperlyConfigured, match="billing"):
        ports.budget_refusal(tenant=None)  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="quotas"):
        ports.quota_release(vm=None)  # type: ignore[arg-type]
