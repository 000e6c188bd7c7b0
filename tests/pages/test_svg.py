"""Chart geometry: a month without a sample breaks the line; bars stack to the month's total."""

from __future__ import annotations

from fractions import Fraction

import pytest

from api.pages.svg import rate_chart, stacked_chart


def test_a_month_without_a_sample_breaks_the_line() -> None:
    months = ["2026-07", "2026-08", "2026-09"]

    chart = rate_chart(months, [("on time", [Fraction(9, 10), None, Fraction(1)])])

    (line,) = chart.lines
    assert len(line.segments) == 2
    assert [label for _, _, label in line.dots] == [
        "on time 2026-07: 90.0%",
        "on time 2026-09: 100.0%",
    ]
    assert chart.y_ticks[-1].label == "100%"
    assert chart.y_ticks[0].label == "80%"


def test_stacked_bars_reach_each_months_total() -> None:
    months = ["2026-07", "2026-08"]

    chart = stacked_chart(months, [("met", "#0f0", [70, 200]), ("missed", "#f00", [5, 0])])

    assert [r.label for r in chart.rects] == [
        "2026-07 met: 70",
        "2026-07 missed: 5",
        "2026-08 met: 200",
    ]
    july_met, july_missed, august = chart.rects
    assert july_missed.y + july_missed.h == july_met.y
    assert august.h / (july_met.h + july_missed.h) == pytest.approx(200 / 75, rel=1e-2)
    assert chart.y_ticks[-1].label == "200"
