"""The server-drawn charts: bars proportional to the figures, labels escaped, tooltips exact."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from portal.charts import Series, _nice_ceiling, bar_chart

NS = {"s": "http://www.w3.org/2000/svg"}


def _bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [r for r in root.findall("s:rect", NS) if r.find("s:title", NS) is not None]


def test_stacked_bars_are_proportional_and_tooltips_exact() -> None:
    svg = bar_chart(
        ["1", "2"],
        [Series("CPU", [Decimal("3.00"), Decimal("1.00")]), Series("RAM", [1, 0])],
        title="Daily cost",
        unit=" EUR",
    )
    bars = _bars(svg)
    heights = [float(b.get("height", "0")) for b in bars]
    # Day 1: CPU 3 then RAM 1 stacked; day 2: CPU 1, RAM 0.
    assert heights[0] == pytest.approx(3 * heights[2], abs=0.2)
    assert heights[1] == heights[2]
    assert heights[3] == 0
    titles = [b.find("s:title", NS).text for b in bars]  # type: ignore[union-attr]
    assert titles[0] == "1 · CPU: 3.00 EUR"


def test_labels_are_escaped_by_the_xml_library() -> None:
    svg = bar_chart(["<b>x</b>"], [Series("a&b", [1])], title='"quoted" <title>')
    assert "<b>" not in svg
    root = ET.fromstring(svg)  # well-formed despite the markup in labels
    assert root.get("aria-label") == '"quoted" <title>'


def test_side_by_side_and_limit_line() -> None:
    svg = bar_chart(
        ["host-1"],
        [Series("allocated", [48]), Series("physical", [32])],
        title="vCPUs",
        stacked=False,
        limit=40,
        limit_label="budget",
    )
    bars = _bars(svg)
    assert float(bars[0].get("x", "0")) < float(bars[1].get("x", "0"))
    assert "budget: 40" in svg


def test_nice_ceiling() -> None:
    assert [_nice_ceiling(v) for v in (0, 0.3, 7, 12, 230, 1000)] == [
        1.0,
        0.5,
        10.0,
        20.0,
        250.0,
        1000.0,
    ]
