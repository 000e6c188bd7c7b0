"""Chart geometry for inline SVG drawn on the server (no chart library, no script).

Functions here turn monthly numbers into coordinates; the templates draw them and print the
same numbers as a table, which is the charts' text alternative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 12, 28
COLOURS = ("#0b5cad", "#d9822b", "#1b7f3b", "#b42318", "#6b4fbb")


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    segments: tuple[str, ...]
    """SVG `points` of each unbroken run (a month without a sample breaks the line)."""
    dots: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    colour: str
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[Line, ...] = ()
    rects: tuple[Rect, ...] = ()

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT


def _x(index: int, count: int) -> float:
    """The centre of slot `index` of `count` across the plot."""
    span = WIDTH - LEFT - RIGHT
    return LEFT + span * (index + 0.5) / max(count, 1)


def _y(value: float, low: float, high: float) -> float:
    span = HEIGHT - TOP - BOTTOM
    return TOP + span * (1 - (value - low) / (high - low or 1))


def rate_floor(values: Sequence[Fraction | None]) -> int:
    """The y axis starts at the lowest rate rounded down to 10% (0 when rates are low)."""
    known = [float(v) for v in values if v is not None]
    return max(0, math.floor(min(known, default=0.0) * 10) * 10 - 10) if known else 0


def rate_chart(
    months: Sequence[str], series: Sequence[tuple[str, Sequence[Fraction | None]]]
) -> Chart:
    """Lines of rates (0–1) per month, on a percentage axis."""
    low = rate_floor([v for _, values in series for v in values])
    ticks = tuple(Tick(_y(p, low, 100), f"{p}%") for p in range(low, 101, 10))
    lines = []
    for (name, values), colour in zip(series, COLOURS, strict=False):
        runs: list[list[str]] = [[]]
        dots = []
        for index, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            x, y = _x(index, len(months)), _y(float(value) * 100, low, 100)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            dots.append((round(x, 1), round(y, 1), f"{name} {months[index]}: {float(value):.1%}"))
        lines.append(Line(name, colour, tuple(" ".join(r) for r in runs if r), tuple(dots)))
    return Chart(WIDTH, HEIGHT, _month_ticks(months), ticks, lines=tuple(lines))


def stacked_chart(months: Sequence[str], stacks: Sequence[tuple[str, str, Sequence[int]]]) -> Chart:
    """Stacked bars of counts per month (e.g. SLA clocks met and missed)."""
    totals = [sum(values[i] for _, _, values in stacks) for i in range(len(months))]
    top = _nice_top(max(totals, default=0))
    step = max(top // 5, 1)
    ticks = tuple(Tick(_y(v, 0, top), str(v)) for v in range(0, top + 1, step))
    width = (WIDTH - LEFT - RIGHT) / max(len(months), 1) * 0.6
    rects = []
    for index, month in enumerate(months):
        base = 0
        for name, colour, values in stacks:
            value = values[index]
            if value:
                y_top, y_base = _y(base + value, 0, top), _y(base, 0, top)
                x = _x(index, len(months)) - width / 2
                label = f"{month} {name}: {value}"
                rects.append(Rect(round(x, 1), round(y_top, 1), round(width, 1),
                                  round(y_base - y_top, 1), colour, label))  # fmt: skip
            base += value
    return Chart(WIDTH, HEIGHT, _month_ticks(months), ticks, rects=tuple(rects))


def _month_ticks(months: Sequence[str]) -> tuple[Tick, ...]:
    return tuple(Tick(_x(i, len(months)), m) for i, m in enumerate(months))


def _nice_top(value: int) -> int:
    """The smallest round number (1, 2, 3, 4, 5, 6, 8 × 10^k) at or above `value`, at least 5."""
    if value <= 5:
        return 5
    magnitude = int(10 ** int(math.log10(value)))
    for factor in (1, 2, 3, 4, 5, 6, 8, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
