"""Sizes and dates as people read them, in English and in French."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.template import Context, Template
from django.utils import translation

from billing.forms import PeriodForm
from portal.charts import Series, bar_chart
from portal.units import size_gib, size_mib
from tests.factories import FlavorFactory

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("mib", "english", "french"),
    [
        (131072, "128 GiB", "128 Gio"),
        (1536, "1.5 GiB", "1,5 Gio"),
        (512, "512 MiB", "512 Mio"),
        (3 * 1024 * 1024, "3 TiB", "3 Tio"),
        (None, "—", "—"),
    ],
)
def test_sizes_read_in_the_largest_unit_with_the_languages_decimal_mark(mib, english, french):
    with translation.override("en"):
        assert size_mib(mib).replace(NBSP, " ") == english
    with translation.override("fr"):
        assert size_mib(mib).replace(NBSP, " ") == french


def test_a_disk_of_2048_gib_reads_2_tib():
    with translation.override("en"):
        assert size_gib(2048).replace(NBSP, " ") == "2 TiB"


@pytest.mark.django_db
def test_a_flavor_names_its_memory_in_gib_not_thousands_of_mib():
    flavor = FlavorFactory(name="big", vcpus=16, ram_mib=131072, disk_gib=400)
    with translation.override("en"):
        assert str(flavor).replace(NBSP, " ") == "big (16 vCPU, 128 GiB, 400 GiB)"
    with translation.override("fr"):
        assert str(flavor).replace(NBSP, " ") == "big (16 vCPU, 128 Gio, 400 Gio)"


def test_the_filters_in_a_template():
    template = Template("{% load units %}{{ ram|mib }} / {{ disk|gib }} / {{ n|sized:'ram_mib' }}")
    with translation.override("fr"):
        out = template.render(Context({"ram": 2048, "disk": 10, "n": 1536}))
    assert out.replace(NBSP, " ") == "2 Gio / 10 Gio / 1,5 Gio"


def test_one_date_format_per_language():
    when = datetime(2026, 12, 6, 14, 5, tzinfo=UTC)
    template = Template('{{ when|date:"SHORT_DATETIME_FORMAT" }} | {{ when|date:"DATE_FORMAT" }}')
    with translation.override("en"):
        assert template.render(Context({"when": when})) == "6 Dec 2026, 14:05 | 6 Dec 2026"
    with translation.override("fr"):
        assert template.render(Context({"when": when})) == "6 déc. 2026 14:05 | 6 déc. 2026"


def test_chart_axes_use_the_languages_decimal_comma():
    chart = bar_chart(["a", "b"], [Series("cost", [1.5, 2.25])], title="t")
    with translation.override("fr"):
        chart_fr = bar_chart(["a", "b"], [Series("cost", [1.5, 2.25])], title="t")
    assert ">0.62<" in chart or ">0.75<" in chart or ">1.25<" in chart
    assert ",50<" in chart_fr or ",75<" in chart_fr or ",25<" in chart_fr
    assert ".50<" not in chart_fr and ".75<" not in chart_fr


@pytest.mark.django_db
def test_date_inputs_work_in_french(world):
    """A date input needs an ISO value even in French; a date typed the French way parses."""
    with translation.override("fr"):
        form = PeriodForm(
            initial={"start": date(2026, 11, 1), "end": date(2026, 11, 30)},
            user=world.finance,
            today=date(2026, 12, 6),
        )
        html = str(form["start"])
        assert 'type="date"' in html and 'value="2026-11-01"' in html
        typed = PeriodForm(
            data={"start": "01/11/2026", "end": "2026-11-30"},
            user=world.finance,
            today=date(2026, 12, 6),
        )
        assert typed.is_valid(), typed.errors
        assert typed.cleaned_data["start"] == date(2026, 11, 1)


def test_step_details_stored_in_english_read_in_french():
    from portal.stored_text import translate_stored

    with translation.override("fr"):
        assert translate_stored("Placed on host sim-1.") == "Placée sur l’hôte sim-1."
        assert translate_stored("Domain running.") == "Domaine en marche."
        two = translate_stored("Domain running. Memory limited to 768 MiB.")
        assert two == "Domaine en marche. Mémoire limitée à 768 Mio."
        assert translate_stored("some text from libvirt") == "some text from libvirt"
    with translation.override("en"):
        assert translate_stored("Domain running.") == "Domain running."
