"""Latency CDFs drawn as standalone SVG files, with the standard library only.

The benchmark compares Holdfast with Unbound by their latency distributions,
cached and cold. An empirical CDF on a log-latency axis shows the whole
distribution at once: cached answers (tens of microseconds) and cold ones
(hundreds of milliseconds) fit on one plot, and the tail, where resolvers
differ most, is where the curves approach 1. The p50/p90/p99 lines make the
usual percentiles readable straight off the picture.

No plotting library is used so that ``make bench`` needs nothing beyond the
project's own dependencies; the SVG is built with ``xml.etree`` so it is
always well-formed, whatever the labels contain.
"""

from __future__ import annotations

import math
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MAX_PATH_POINTS", "write_cdf_svg"]

#: The most vertices one series' path gets. A large run (a million queries)
#: drawn point by point would make a file of tens of megabytes that browsers
#: render slowly, and show nothing more than a few thousand points do.
MAX_PATH_POINTS = 2_000
#: Latencies are clamped up to this (seconds): a log axis cannot show zero,
#: and no resolver answers faster than a microsecond.
LATENCY_FLOOR = 1e-6
#: The share of points at the slow end that gets the finer sampling.
_TAIL_SHARE = 0.01
#: How many of the slowest points are always drawn exactly, one by one.
_EXACT_SLOWEST = 200

#: How close (in decades) data may come to the axis ends before the axis
#: grows by a decade: 0.05 decades is about 12%, a dozen pixels per decade.
_DECADE_MARGIN = 0.05

#: Colour-blind-safe colours (Okabe and Ito), in the order series are given.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Dash patterns, used once the colours run out so series stay distinct.
_DASHES = ("", "6 3", "2 2", "8 3 2 3")
#: The percentiles marked with a gridline and a label on the right.
_MARKED = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))

_SVG_NS = "http://www.w3.org/2000/svg"
_WIDTH = 820
#: The height of the plot area itself; the legend below it adds to the total.
_PLOT_HEIGHT = 400
_LEFT = 70
_RIGHT = 50
_TOP = 50
#: Room under the plot area for the tick labels and the axis name.
_UNDER = 56
_LEGEND_ROW = 20
#: A legend entry wider than this (characters) gets a row of its own.
_LEGEND_COLUMN_CHARS = 44
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def write_cdf_svg(path: pathlib.Path, title: str, series: Mapping[str, Sequence[float]]) -> None:
    """Draw one empirical latency CDF per series and write it to ``path``.

    Args:
        path: Where to write the SVG (overwritten).
        title: The plot's title.
        series: Each label (such as "Holdfast cached") mapped to latencies in
            seconds, in any order. An empty series is listed in the legend as
            "no data" and not drawn; zero latencies are drawn at
            ``LATENCY_FLOOR``.

    Raises:
        ValueError: If a latency is negative, infinite or NaN: a harness bug
            that a plot should not hide.
    """
    prepared = {label: _milliseconds(label, values) for label, values in series.items()}
    low, high = _decades(prepared.values())
    plot = _Frame(low, high)
    legend: list[_LegendEntry] = []
    for number, (label, values) in enumerate(prepared.items()):
        style = {
            "stroke": _COLOURS[number % len(_COLOURS)],
            "stroke-dasharray": _DASHES[(number // len(_COLOURS)) % len(_DASHES)],
        }
        text = f"{label} (n={len(values):,})" if values else f"{label} (no data)"
        legend.append(_LegendEntry(text, style if values else None))
    widest = max((len(entry.text) for entry in legend), default=0)
    columns = 2 if widest <= _LEGEND_COLUMN_CHARS else 1
    rows = math.ceil(len(legend) / columns)
    height = plot.bottom + _UNDER + rows * _LEGEND_ROW + 12
    root = ET.Element(
        "svg",
        {
            "xmlns": _SVG_NS,
            "width": str(_WIDTH),
            "height": str(height),
            "viewBox": f"0 0 {_WIDTH} {height}",
            "font-family": _FONT,
        },
    )
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "rect", {"width": "100%", "height": "100%", "fill": "white"})
    _axes(root, plot, title)
    for (label, values), entry in zip(prepared.items(), legend, strict=True):
        if entry.style is None:
            continue
        attributes = {
            "d": _path(plot, values),
            "fill": "none",
            "stroke-width": "1.8",
            "stroke-linejoin": "round",
            "class": "cdf",
            "data-label": label,
        }
        attributes.update({key: value for key, value in entry.style.items() if value})
        ET.SubElement(root, "path", attributes)
    _legend(root, plot, legend, columns)
    tree = ET.ElementTree(root)
    ET.indent(tree, space=" ")
    with path.open("wb") as output:
        tree.write(output, encoding="utf-8", xml_declaration=True)


def _milliseconds(label: str, latencies: Sequence[float]) -> list[float]:
    """Return ``latencies`` (seconds) sorted, clamped to the floor, in milliseconds."""
    if any(not (math.isfinite(value) and value >= 0) for value in latencies):
        raise ValueError(f"series {label!r} has a negative, infinite or NaN latency")
    return [max(value, LATENCY_FLOOR) * 1e3 for value in sorted(latencies)]


def _decades(all_values: Iterable[Sequence[float]]) -> tuple[int, int]:
    """Return the decades (powers of ten, in ms) the x axis spans.

    The axis starts and ends on whole decades around the data, so every tick
    is a round number, and leaves a little room at both ends; with no data at
    all it shows 0.01 to 100 ms.
    """
    lows: list[float] = []
    highs: list[float] = []
    for values in all_values:
        if values:
            lows.append(values[0])
            highs.append(values[-1])
    if not lows:
        return -2, 2
    # The margin keeps a curve off the frame when the data starts or ends on
    # (or just inside) a decade, such as latencies clamped to the floor.
    low = math.floor(math.log10(min(lows)) - _DECADE_MARGIN)
    high = math.ceil(math.log10(max(highs)) + _DECADE_MARGIN)
    return low, max(high, low + 1)


@dataclass(frozen=True, slots=True)
class _LegendEntry:
    """One legend line: its text, and the stroke style (None: nothing drawn)."""

    text: str
    style: dict[str, str] | None


class _Frame:
    """The plot area: maps milliseconds and fractions to SVG coordinates."""

    def __init__(self, low_decade: int, high_decade: int) -> None:
        self.low = low_decade
        self.high = high_decade
        self.left = _LEFT
        self.right = _WIDTH - _RIGHT
        self.top = _TOP
        self.bottom = _TOP + _PLOT_HEIGHT

    def x(self, milliseconds: float) -> float:
        """Return the x coordinate of a latency, on the log scale."""
        share = (math.log10(milliseconds) - self.low) / (self.high - self.low)
        return self.left + share * (self.right - self.left)

    def y(self, fraction: float) -> float:
        """Return the y coordinate of a cumulative fraction (0 at the bottom)."""
        return self.bottom - fraction * (self.bottom - self.top)


def _path(plot: _Frame, values: Sequence[float]) -> str:
    """Return the SVG path data of the empirical CDF of sorted ``values``.

    A small series is drawn as the exact staircase (each query one step). A
    large one is drawn through at most ``MAX_PATH_POINTS`` sampled points,
    see ``_sample``; its steps are then far below a pixel, so straight lines
    between the samples look the same as the staircase.
    """
    count = len(values)
    start = f"M{plot.x(values[0]):.2f},{plot.y(0):.2f}"
    if 2 * count <= MAX_PATH_POINTS:
        steps = [f"V{plot.y(1 / count):.2f}"]
        for index in range(1, count):
            steps.append(f"H{plot.x(values[index]):.2f}")
            steps.append(f"V{plot.y((index + 1) / count):.2f}")
        return start + "".join(steps)
    points = [
        f"L{plot.x(values[index]):.2f},{plot.y((index + 1) / count):.2f}"
        for index in _sample(count)
    ]
    return start + "".join(points)


def _sample(count: int) -> list[int]:
    """Return the indices (ascending) of the sorted points to draw, at most ~2,000.

    Half the budget goes to the fastest 99% of the points, evenly by rank: on
    a linear 0..1 axis a rank gap of 1/1,000 is under half a pixel, so the
    body loses nothing visible. The other half goes to the slowest 1%, which
    is where resolvers differ: the slowest ``_EXACT_SLOWEST`` points are all
    kept (the maximum exactly), the rest of the tail sampled evenly by rank.
    """
    if count <= MAX_PATH_POINTS:
        return list(range(count))
    budget = MAX_PATH_POINTS // 2
    tail_start = min(math.floor(count * (1 - _TAIL_SHARE)), count - _EXACT_SLOWEST)
    chosen = set(_evenly(0, tail_start, budget))
    exact_start = count - _EXACT_SLOWEST
    chosen.update(_evenly(tail_start, exact_start, MAX_PATH_POINTS - budget - _EXACT_SLOWEST))
    chosen.update(range(exact_start, count))
    return sorted(chosen)


def _evenly(start: int, stop: int, how_many: int) -> list[int]:
    """Return up to ``how_many`` indices spread evenly over ``[start, stop)``.

    The last index is always included, so each stretch meets the next.
    """
    span = stop - start
    if span <= 0 or how_many <= 0:
        return []
    if span <= how_many:
        return list(range(start, stop))
    return [start + (span - 1) * k // (how_many - 1) for k in range(how_many)]


def _tick_label(decade: int) -> str:
    """Return a decade's label in milliseconds: 0.001, 0.1, 1, 10, 1000."""
    if decade >= 0:
        return f"{10**decade:,}"
    return "0." + "0" * (-decade - 1) + "1"


def _text(parent: ET.Element, x: float, y: float, text: str, **attributes: str) -> None:
    """Add a text element at (x, y); keyword names use ``_`` for ``-``."""
    element = ET.SubElement(
        parent,
        "text",
        {"x": f"{x:.1f}", "y": f"{y:.1f}"}
        | {key.replace("_", "-"): value for key, value in attributes.items()},
    )
    element.text = text


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, **style: str) -> None:
    """Add a straight line; keyword names use ``_`` for ``-``."""
    ET.SubElement(
        parent,
        "line",
        {"x1": f"{x1:.2f}", "y1": f"{y1:.2f}", "x2": f"{x2:.2f}", "y2": f"{y2:.2f}"}
        | {key.replace("_", "-"): value for key, value in style.items()},
    )


def _axes(root: ET.Element, plot: _Frame, title: str) -> None:
    """Draw the title, the gridlines, the ticks and their labels, the axis names."""
    group = ET.SubElement(root, "g", {"class": "axes", "font-size": "12", "fill": "#222"})
    _text(group, _WIDTH / 2, 28, title, text_anchor="middle", font_size="17", font_weight="bold")
    for decade in range(plot.low, plot.high):
        for multiple in range(2, 10):
            x = plot.x(multiple * 10.0**decade)
            _line(group, x, plot.top, x, plot.bottom, stroke="#eeeeee", stroke_width="1")
    for decade in range(plot.low, plot.high + 1):
        x = plot.x(10.0**decade)
        _line(group, x, plot.top, x, plot.bottom, stroke="#cccccc", stroke_width="1")
        _line(group, x, plot.bottom, x, plot.bottom + 5, stroke="#222", stroke_width="1")
        _text(group, x, plot.bottom + 19, _tick_label(decade), text_anchor="middle")
    for tenth in range(0, 11, 2):
        fraction = tenth / 10
        y = plot.y(fraction)
        _line(group, plot.left, y, plot.right, y, stroke="#e4e4e4", stroke_width="1")
        _line(group, plot.left - 5, y, plot.left, y, stroke="#222", stroke_width="1")
        _text(group, plot.left - 8, y + 4, f"{fraction:g}", text_anchor="end")
    for fraction, name in _MARKED:
        y = plot.y(fraction)
        _line(
            group,
            plot.left,
            y,
            plot.right,
            y,
            stroke="#777777",
            stroke_width="1",
            stroke_dasharray="4 3",
        )
        _text(group, plot.right + 6, y + 4, name, font_size="11", fill="#555")
    ET.SubElement(
        group,
        "rect",
        {
            "x": str(plot.left),
            "y": str(plot.top),
            "width": str(plot.right - plot.left),
            "height": str(plot.bottom - plot.top),
            "fill": "none",
            "stroke": "#222",
            "stroke-width": "1",
        },
    )
    _text(
        group,
        (plot.left + plot.right) / 2,
        plot.bottom + 42,
        "latency (ms, log scale)",
        text_anchor="middle",
        font_size="13",
    )
    middle = (plot.top + plot.bottom) / 2
    _text(
        group,
        20,
        middle,
        "fraction of queries",
        text_anchor="middle",
        font_size="13",
        transform=f"rotate(-90 20 {middle:.1f})",
    )


def _legend(root: ET.Element, plot: _Frame, entries: Sequence[_LegendEntry], columns: int) -> None:
    """Draw the legend under the x axis, in ``columns`` columns.

    It sits outside the plot area because no corner of a set of CDFs is safe:
    cached series cross the upper left, slow cold ones the lower right.
    """
    group = ET.SubElement(root, "g", {"class": "legend", "font-size": "12", "fill": "#222"})
    column_width = (plot.right - plot.left) / columns
    for number, entry in enumerate(entries):
        row, column = divmod(number, columns)
        left = plot.left + column * column_width
        y = plot.bottom + _UNDER + row * _LEGEND_ROW + _LEGEND_ROW / 2
        if entry.style is not None:
            sample = {key.replace("-", "_"): value for key, value in entry.style.items() if value}
            _line(group, left, y, left + 28, y, stroke_width="2.5", **sample)
        _text(group, left + 36, y + 4, entry.text)
