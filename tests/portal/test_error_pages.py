"""Branded error pages in the portal's look, without jargon, and one answer (404) for a page
the user's role may not see and for one that does not exist."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import path

from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("database on fire")


urlpatterns = [path("boom/", _boom)]


def test_a_missing_page_is_branded_with_a_way_back(world, client):
    client.force_login(world.member)
    answer = client.get("/no/such/page/")
    assert answer.status_code == 404
    page = answer.content.decode()
    assert 'data-error-page="404"' in page
    assert "This page is not here" in page
    assert 'href="/"' in page and "My VMs" in page  # the portal's navigation is there
    assert "Traceback" not in page and "Resolver" not in page and "matches the given" not in page


@pytest.mark.parametrize("role", ["member", "approver", "tenant_admin"])
@pytest.mark.parametrize(
    "url",
    [
        "/finance/",
        "/finance/invoices/",
        "/finance/prices/",
        "/hosts/",
        "/capacity/",
        "/hosts/drs/",
        "/tenant/billing/",
    ],
)
def test_a_page_the_role_may_not_see_answers_like_a_missing_one(world, client, role, url):
    client.force_login(getattr(world, role))
    hidden = client.get(url)
    missing = client.get("/no/such/page/")
    if role == "tenant_admin" and url == "/finance/invoices/":
        assert hidden.status_code == 200  # tenant admins read their own invoices
        return
    assert hidden.status_code == missing.status_code == 404
    assert 'data-error-page="404"' in hidden.content.decode()


def test_another_tenants_vm_is_the_same_404(world, other_world, client):
    theirs = VirtualMachineFactory(environment=other_world.development, owner=other_world.member)
    client.force_login(world.member)
    answer = client.get(f"/vms/{theirs.pk}/")
    assert answer.status_code == 404 and 'data-error-page="404"' in answer.content.decode()
    assert client.get("/vms/999999/").status_code == 404


def test_a_refused_action_is_a_branded_403_that_says_why(world, client):
    client.force_login(world.member)
    answer = client.post("/costs/", {"amount": "1"})
    assert answer.status_code == 403
    page = answer.content.decode()
    assert 'data-error-page="403"' in page
    assert "Your role in this tenant does not allow this action." in page


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_is_a_branded_page_without_details():
    client = Client(raise_request_exception=False)
    answer = client.get("/boom/")
    assert answer.status_code == 500
    page = answer.content.decode()
    assert 'data-error-page="500"' in page and "Something went wrong on our side" in page
    assert "database on fire" not in page and "RuntimeError" not in page
    assert "nuage.css" in page
