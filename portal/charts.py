"""Charts drawn on the server as inline SVG: no script, no CDN, readable by a screen reader.

One builder, `bar_chart`, serves every page: bars per category (a day, a host, a tenant), one
series per resource or measure, stacked (daily cost by resource) or side by side (allocated vs
physical). The SVG is built with ElementTree, so labels are escaped by the XML library and never
pasted into markup. Each bar carries a <title> with its exact figure (a tooltip), and the chart a
table-free text alternative in `aria-label`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal

# Colours by position; CSS classes would not reach an <img>, and inline SVG keeps them.
PALETTE = ("#2563eb", "#15803d", "#b45309", "#7c3aed", "#0891b2", "#b91c1c", "#64748b")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Number]
    color: str | None = None


def _fmt_default(value: Number) -> str:
    """The active language's number format: 1,234.50 in English, 1 234,50 in French."""
    decimals = 0 if isinstance(value, int) else 2
    return number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    stacked: bool = True,
    unit: str = "",
    fmt: Callable[[Number], str] = _fmt_default,
    width: int = 720,
    height: int = 220,
    limit: Number | None = None,
    limit_label: str = "",
) -> SafeString:
    """An SVG bar chart; `limit` draws a horizontal line (a budget, a capacity)."""
    left, right, top, bottom = 56, 8, 10, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(categories), 1)
    totals = [
        sum((float(s.values[i]) for s in series), 0.0)
        if stacked
        else max((float(s.values[i]) for s in series), default=0.0)
        for i in range(len(categories))
    ]
    peak = max([*totals, float(limit) if limit is not None else 0.0, 0.0])
    scale_max = _nice_ceiling(peak)

    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {width} {height}",
            "class": "chart",
            "role": "img",
            "aria-label": title,
        },
    )
    ET.SubElement(svg, "title").text = title
    axis = {"stroke": "#dde3ea", "stroke-width": "1"}
    for step in range(5):
        value = scale_max * step / 4
        y = top + plot_h - plot_h * step / 4
        ET.SubElement(
            svg,
            "line",
            {"x1": str(left), "x2": str(width - right), "y1": f"{y:.1f}", "y2": f"{y:.1f}", **axis},
        )
        label = ET.SubElement(
            svg,
            "text",
            {
                "x": str(left - 4),
                "y": f"{y + 4:.1f}",
                "text-anchor": "end",
                "font-size": "10",
                "fill": "#566270",
            },
        )
        label.text = fmt(round(value, 2) if not float(value).is_integer() else int(value))

    slot = plot_w / n
    bar_w = slot * 0.7 / (1 if stacked else max(len(series), 1))
    every = max(1, n // 12)  # at most a dozen category labels on the axis
    for i, category in enumerate(categories):
        x0 = left + slot * i + slot * 0.15
        base = 0.0
        for k, s in enumerate(series):
            value = float(s.values[i])
            h = plot_h * value / scale_max if scale_max else 0.0
            x = x0 if stacked else x0 + bar_w * k
            y = top + plot_h - h - (plot_h * base / scale_max if stacked and scale_max else 0.0)
            rect = ET.SubElement(
                svg,
                "rect",
                {
                    "x": f"{x:.1f}",
                    "y": f"{y:.1f}",
                    "width": f"{max(bar_w, 1):.1f}",
                    "height": f"{h:.1f}",
                    "fill": s.color or PALETTE[k % len(PALETTE)],
                },
            )
            ET.SubElement(rect, "title").text = f"{category} · {s.label}: {fmt(s.values[i])}{unit}"
            if stacked:
                base += value
        if i % every == 0:
            text = ET.SubElement(
                svg,
                "text",
                {
                    "x": f"{left + slot * i + slot / 2:.1f}",
                    "y": str(height - bottom + 14),
                    "text-anchor": "middle",
                    "font-size": "10",
                    "fill": "#566270",
                },
            )
            text.text = category
    if limit is not None and scale_max:
        y = top + plot_h - plot_h * float(limit) / scale_max
        line = ET.SubElement(
            svg,
            "line",
            {
                "x1": str(left),
                "x2": str(width - right),
                "y1": f"{y:.1f}",
                "y2": f"{y:.1f}",
                "stroke": "#b91c1c",
                "stroke-dasharray": "4 3",
            },
        )
        ET.SubElement(line, "title").text = f"{limit_label}: {fmt(limit)}{unit}"
    x = float(left)
    for k, s in enumerate(series):
        ET.SubElement(
            svg,
            "rect",
            {
                "x": f"{x:.1f}",
                "y": str(height - 14),
                "width": "10",
                "height": "10",
                "fill": s.color or PALETTE[k % len(PALETTE)],
            },
        )
        legend = ET.SubElement(
            svg, "text", {"x": f"{x + 14:.1f}", "y": str(height - 5), "font-size": "11"}
        )
        legend.text = s.label
        x += 24 + 7 * len(s.label)
    return mark_safe(ET.tostring(svg, encoding="unicode"))  # noqa: S308 - built by ElementTree


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** len(str(int(value))) / 10.0 if value >= 1 else 1.0
    while power > value:
        power /= 10.0
    for factor in (1, 2, 2.5, 5, 10):
        if power * factor >= value:
            return power * factor
    return power * 10
