"""The latency CDF plot: well-formed SVG, one curve per series with data.

The harness writes these plots at the end of a long run, so a plot that
fails on an odd series (empty, all zeros, one point, a million points)
would lose the figure; these cases are checked here, cheaply.
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.plot import MAX_PATH_POINTS, write_cdf_svg

SVG = "{http://www.w3.org/2000/svg}"


def _draw(tmp_path: Path, series: dict[str, list[float]]) -> ET.Element:
    """Write the plot of ``series`` and parse it back (failing if it is not XML)."""
    path = tmp_path / "cdf.svg"
    write_cdf_svg(path, "Latency <cached & cold>", series)
    return ET.parse(path).getroot()


def _curves(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}path")


def _texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def _vertices(path: ET.Element) -> int:
    """Count the points a path's data draws through (M, L, H and V commands)."""
    return len(re.findall(r"[MLHV]", path.get("d", "")))


def test_one_curve_per_series_with_data_and_every_label_in_the_legend(tmp_path: Path) -> None:
    rng = random.Random(7)
    series = {
        "Holdfast cached": [rng.lognormvariate(-9, 0.4) for _ in range(500)],
        "Unbound cached": [rng.lognormvariate(-10, 0.3) for _ in range(500)],
        "Holdfast cold": [rng.lognormvariate(-3, 0.9) for _ in range(50)],
        "Unbound cold": [],
    }
    root = _draw(tmp_path, series)
    assert root.tag == f"{SVG}svg"
    assert [curve.get("data-label") for curve in _curves(root)] == [
        "Holdfast cached",
        "Unbound cached",
        "Holdfast cold",
    ]
    assert len({curve.get("stroke") for curve in _curves(root)}) == 3
    texts = _texts(root)
    assert "Latency <cached & cold>" in texts
    for label in ("Holdfast cached", "Unbound cached", "Holdfast cold"):
        assert f"{label} (n={len(series[label])})" in texts
    assert "Unbound cold (no data)" in texts
    assert {"p50", "p90", "p99", "fraction of queries"} <= set(texts)


def test_ticks_are_decades_spanning_the_data(tmp_path: Path) -> None:
    root = _draw(tmp_path, {"a": [0.00005, 0.002, 0.3]})  # 0.05 ms to 300 ms
    texts = _texts(root)
    assert {"0.01", "0.1", "1", "10", "100", "1,000"} <= set(texts)


def test_large_series_is_downsampled_with_the_slowest_points_exact(tmp_path: Path) -> None:
    latencies = [index / 1e9 for index in range(1, 200_001)]
    root = _draw(tmp_path, {"big": latencies})
    (curve,) = _curves(root)
    assert _vertices(curve) <= MAX_PATH_POINTS + 1
    # The last vertex is the slowest query, drawn at the top of the plot.
    _, last_y = re.findall(r"L([\d.]+),([\d.]+)", curve.get("d", ""))[-1]
    top_y = min(float(line.get("y1", "nan")) for line in root.iter(f"{SVG}line") if line.get("y1"))
    assert float(last_y) == pytest.approx(top_y)


@pytest.mark.parametrize(
    "latencies",
    [[0.0], [0.0, 0.0, 0.0], [0.004], [0.0, 1e-7, 2.5]],
    ids=["one-zero", "all-zeros", "one-point", "below-the-floor"],
)
def test_odd_series_still_draw_a_curve(tmp_path: Path, latencies: list[float]) -> None:
    root = _draw(tmp_path, {"odd": latencies})
    assert len(_curves(root)) == 1


def test_no_data_at_all_draws_empty_axes(tmp_path: Path) -> None:
    root = _draw(tmp_path, {"a": [], "b": []})
    assert _curves(root) == []
    assert {"a (no data)", "b (no data)"} <= set(_texts(root))


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_impossible_latencies_are_refused(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="negative, infinite or NaN"):
        write_cdf_svg(tmp_path / "cdf.svg", "t", {"broken": [0.001, bad]})
