"""The portal in French: the browser's language decides, the switcher overrides it."""

from __future__ import annotations

import pytest
from django.utils import translation
from playwright.sync_api import expect

from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_requests_and_approver_approves_in_french(login, worker, host, world, flavor, image):
    alice = login(world.member, locale="fr-FR")
    # The menu's link (the VM list also has a "Mes VM" / "VM du locataire" switch).
    menu = alice.get_by_role("navigation", name="Principale")
    expect(menu.get_by_role("link", name="Mes VM")).to_be_visible()
    alice.get_by_role("link", name="Demander une VM").first.click()
    expect(alice.get_by_role("heading", name="Demander une VM")).to_be_visible()
    alice.get_by_label("Environnement").select_option(
        label="Apollo / production (approbation requise)"
    )
    with translation.override("fr"):  # the flavor reads "… 512 Mio, 1 Gio" in French
        alice.get_by_label("Gabarit").select_option(label=str(flavor))
    alice.get_by_label("Image").select_option(label=image.name)
    alice.get_by_label("Nom", exact=True).fill("web-fr")
    alice.get_by_role("button", name="Envoyer la demande").click()
    expect(alice.locator("#vm-state")).to_have_text("En attente d’approbation")
    expect(alice.locator("#vm-hint")).to_contain_text("Un approbateur de Apollo")
    shot(alice, "fr-01-pending")

    bob = login(world.approver, locale="fr-FR")
    bob.get_by_role("link", name="Approbations").click()
    expect(bob.get_by_role("heading", name="Demandes en attente d’approbation")).to_be_visible()
    bob.locator("tr[data-vm='web-fr']").get_by_role("button", name="Approuver").click()
    expect(bob.get_by_role("status")).to_contain_text("web-fr approuvée ; la création commence.")

    # alice's page follows, in French, down to the progress steps and the final state.
    expect(alice.locator("#vm-state")).to_have_text("En marche", timeout=60_000)
    expect(alice.locator("[data-step='creating_disk']")).to_contain_text("Création du disque")
    shot(alice, "fr-02-running")


def test_the_switcher_overrides_the_browser_language(login, world):
    page = login(world.member, locale="fr-FR")
    expect(
        page.get_by_role("navigation", name="Principale").get_by_role("link", name="Mes VM")
    ).to_be_visible()
    page.locator("select[name=language]").select_option("en")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="My VMs")
    ).to_be_visible()
    page.reload()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="My VMs")
    ).to_be_visible()
