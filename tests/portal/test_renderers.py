"""The API's JSON (orjson) reads exactly as DRF's own renderer wrote it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from portal.api.renderers import FastJSONRenderer

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "when": datetime(2026, 12, 6, 20, 1, 2, tzinfo=UTC),
    "when_micro": datetime(2026, 12, 6, 20, 1, 2, 120, tzinfo=UTC),
    "when_paris": datetime(2026, 12, 6, 21, 1, 2, tzinfo=timezone(timedelta(hours=1))),
    "day": date(2026, 12, 6),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "price": Decimal("0.0125"),
    "label": gettext_lazy("Running"),
    "wait": timedelta(seconds=90),
    "text": "café \u2028 line",
    "nested": ReturnList(
        [ReturnDict({"a": 1, "b": None, "c": [True, 1.5]}, serializer=None)], serializer=None
    ),
    7: "an integer key",
}


def test_the_document_is_drfs_byte_for_byte():
    ours = FastJSONRenderer().render(DOCUMENT)
    theirs = JSONRenderer().render(DOCUMENT)
    assert ours == theirs
    assert json.loads(ours)["when"] == "2026-12-06T20:01:02Z"
    assert b"\\u2028" in ours  # kept a JavaScript subset, as DRF does


def test_an_integer_past_64_bits_is_written_as_drf_writes_it():
    document = {"vms": [{"id": ["No VM with id 128608889378806924574720."]}], "big": 2**70}
    assert FastJSONRenderer().render(document) == JSONRenderer().render(document)


def test_an_indented_document_is_asked_for_and_given():
    out = FastJSONRenderer().render({"a": [1]}, "application/json; indent=2")
    assert out == b'{\n  "a": [\n    1\n  ]\n}'


def test_the_api_answers_with_it(world, api):
    api.force_authenticate(world.member)
    page = api.get("/api/v1/vms/")
    assert page.status_code == 200
    assert page["Content-Type"] == "application/json"
    assert page.json()["results"] == []
