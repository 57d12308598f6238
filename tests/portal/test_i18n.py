"""English and French: the catalogue is complete, and messages follow the asked language."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from rest_framework.test import APIClient

PO = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"

pytestmark = pytest.mark.django_db


def test_every_message_has_a_french_text():
    catalogue = polib.pofile(str(PO))
    assert len(catalogue) > 300
    assert [e.msgid for e in catalogue if not e.translated() or e.fuzzy] == []
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime - 1, "run make messages"


def test_api_errors_come_in_the_asked_language(world, sim_host, flavor, image):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_authenticate(world.member)
    answer = client.post(
        "/api/v1/vms/",
        {"name": "web-1", "environment": world.development.pk, "flavor": flavor.pk, "image": 0},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["image"] == ["Clé primaire «\xa00\xa0» non valide - l'objet n'existe pas."]
    refused = client.post("/api/v1/tokens/", {"name": ""}, format="json")
    assert refused.json()["name"] == ["Ce champ ne peut être vide."]


def test_pages_follow_the_browser_then_the_switcher(world, client):
    client.force_login(world.member)
    assert "Mes VM" in client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert "My VMs" in client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "My VMs" in client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR").content.decode()


def test_dates_follow_the_locale(world, client):
    from portal import services

    services.token_create(user=world.member, name="ci")
    client.force_login(world.member)
    french = client.get("/tokens/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    english = client.get("/tokens/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    from django.utils import formats, timezone, translation

    # One format per language (portal/formats/): "6 déc. 2026 14:05", "6 Dec 2026, 14:05",
    # never the ambiguous 12/06/2026.
    today = timezone.localdate()
    with translation.override("fr"):
        assert formats.date_format(today, "SHORT_DATE_FORMAT") in french
    with translation.override("en"):
        assert formats.date_format(today, "SHORT_DATE_FORMAT") in english
    assert today.strftime("%m/%d/%Y") not in english
