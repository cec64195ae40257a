"""The SVG charts' geometry: a day series scaled into a fixed box with a nice ceiling, computed
here so templates only draw (no arithmetic in Jinja)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import TREND_COUNTERS

CHART_WIDTH = 640
CHART_HEIGHT = 200
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 40, 10, 12, 26
CHART_SERIES = TREND_COUNTERS


def _nice_ceiling(value: int) -> int:
    """A round upper bound for the y axis (1, 2, 5 × 10^n)."""
    if value <= 4:
        return max(value, 1) if value > 1 else 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def chart(series: list[dict[str, Any]], keys: Sequence[str] = CHART_SERIES) -> dict[str, Any]:
    """Geometry of a daily line chart (one line per key of the day rows), for the one SVG
    macro in templates/_chart.html (no chart library, no arithmetic in Jinja)."""
    top = _nice_ceiling(max((day[name] for day in series for name in keys), default=0))
    inner_w = CHART_WIDTH - _PAD_LEFT - _PAD_RIGHT
    inner_h = CHART_HEIGHT - _PAD_TOP - _PAD_BOTTOM
    step = inner_w / max(len(series) - 1, 1)

    def x(index: int) -> float:
        return round(_PAD_LEFT + index * step, 1)

    def y(value: int) -> float:
        return round(_PAD_TOP + inner_h - value / top * inner_h, 1)

    lines = {
        name: " ".join(f"{x(i)},{y(day[name])}" for i, day in enumerate(series)) for name in keys
    }
    gridlines = [{"y": y(v), "label": v} for v in sorted({0, top // 2, top})]
    label_at = sorted({0, len(series) // 2, len(series) - 1}) if series else []
    last = len(series) - 1
    ticks = [
        {
            "x": x(i),
            "label": series[i]["date"][5:],
            "anchor": "start" if i == 0 else ("end" if i == last else "middle"),
        }
        for i in label_at
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": _PAD_LEFT,
        "right": CHART_WIDTH - _PAD_RIGHT,
        "baseline": y(0),
        "tick_y": CHART_HEIGHT - 8,
        "lines": lines,
        "gridlines": gridlines,
        "ticks": ticks,
        "top": top,
    }
