"""The quality report's charts, drawn with matplotlib's Agg backend and returned as base64 PNG.

Figures are built without pyplot (`rlhf.reporting.figure`). Each function takes the analysis (or
its JSON summary) and returns a `data:` URI ready for an `<img src>`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import binomtest

from rlhf import reporting
from rlhf.quality.labels import CATEGORIES, Floats

if TYPE_CHECKING:
    from rlhf.quality.analysis import AnnotatorReport, QualityAnalysis

MAX_CURVES = 12
"""Fatigue curves drawn at most (the annotators with the most judgments)."""
MIN_SHARED = 5
"""Fewest shared items for a pair to be drawn in the heatmap."""
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


def kappa_heatmap(names: Sequence[str], matrix: Floats, shared: Floats) -> str:
    """Pairwise Cohen's kappa, annotators x annotators; blank where two shared fewer than
    `MIN_SHARED` items (a kappa of one or two items means little)."""
    matrix = np.where(shared >= MIN_SHARED, matrix, np.nan)
    n = len(names)
    size = min(12.0, 2.5 + 0.45 * n)
    figure = reporting.figure(size, size * 0.85)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(matrix), vmin=-1, vmax=1, cmap="RdYlGn")
    labels = [reporting.short(name) for name in names]
    axes.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(n), labels, fontsize=8)
    if n <= 12:
        for (i, j), value in np.ndenumerate(matrix):
            if math.isfinite(value):
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, label="Cohen's kappa")
    axes.set_title(f"Agreement between annotators (pairs sharing >= {MIN_SHARED} items)")
    return reporting.png_uri(figure)


def _rate_interval(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    interval = binomtest(successes, n).proportion_ci(0.95)
    return float(interval.low), float(interval.high)


def _share(value: float | None) -> float:
    return math.nan if value is None else float(value)


def bias_chart(annotators: Mapping[str, Mapping[str, Any]]) -> str:
    """Per annotator: left-choice rate (95% Clopper-Pearson interval) and longer-choice rate.

    annotators: `QualityAnalysis.summary()["annotators"]` (name -> `AnnotatorReport.as_json()`).
    """
    names = list(annotators)
    position = [a["position_bias"] for a in annotators.values()]
    length = [a["length_bias"] for a in annotators.values()]
    figure = reporting.figure(max(6.0, 1.0 + 0.5 * len(names)), 4.0)
    left, right = figure.subplots(1, 2, sharey=True)
    x = np.arange(len(names))
    rates = [_share(p["value"]) for p in position]
    bounds = [_rate_interval(int(p["statistic"] or 0), p["n"]) for p in position]
    low = [
        max(0.0, r - b[0]) if math.isfinite(r) else 0.0 for r, b in zip(rates, bounds, strict=True)
    ]
    high = [
        max(0.0, b[1] - r) if math.isfinite(r) else 0.0 for r, b in zip(rates, bounds, strict=True)
    ]
    colors = [COLORS[3] if p["flagged"] else COLORS[0] for p in position]
    left.bar(x, rates, yerr=[low, high], color=colors, capsize=3)
    left.set_title("Chose the left response")
    longer = [_share(g["longer_rate"]) for g in length]
    right.bar(x, longer, color=[COLORS[3] if g["flagged"] else COLORS[1] for g in length])
    right.set_title("Chose the longer response")
    for axes in (left, right):
        axes.axhline(0.5, color="black", linewidth=0.8, linestyle="--")
        axes.set_ylim(0, 1)
        axes.set_xticks(x, [reporting.short(n) for n in names], rotation=60, ha="right", fontsize=8)
    left.set_ylabel("share of decisive judgments (red: flagged)")
    return reporting.png_uri(figure)


def _rolling(values: Floats, window: int) -> Floats:
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def fatigue_curves(reports: Sequence[AnnotatorReport], window: int = 25) -> str | None:
    """Rolling agreement with the consensus, and rolling median seconds, along each session."""
    chosen = sorted(reports, key=lambda r: -r.labels)[:MAX_CURVES]
    timed = any(np.isfinite(r.session.seconds).any() for r in chosen)
    drawable = [r for r in chosen if r.session.agreement.size >= window]
    if not drawable and not timed:
        return None
    figure = reporting.figure(10.0, 4.0)
    agree_axes, seconds_axes = figure.subplots(1, 2)
    palette = {r.name: f"C{i % 10}" for i, r in enumerate(chosen)}
    for report in drawable:
        curve = _rolling(report.session.agreement, window)
        positions = report.session.agreement_positions[window - 1 :]
        agree_axes.plot(
            positions,
            curve,
            label=reporting.short(report.name),
            color=palette[report.name],
            linewidth=1.2,
        )
    agree_axes.set_title(f"Agreement with the consensus (rolling {window})")
    agree_axes.set_xlabel("item in the annotator's session")
    agree_axes.set_ylim(0, 1)
    for report in chosen:
        seconds = report.session.seconds
        if np.isfinite(seconds).sum() >= window:
            filled = np.where(np.isfinite(seconds), seconds, np.nanmedian(seconds))
            medians = [np.median(filled[i : i + window]) for i in range(filled.size - window + 1)]
            seconds_axes.plot(
                np.arange(window - 1, filled.size),
                medians,
                label=reporting.short(report.name),
                color=palette[report.name],
                linewidth=1.2,
            )
    seconds_axes.set_title(f"Seconds per item (rolling median {window})")
    seconds_axes.set_xlabel("item in the annotator's session")
    if not timed:
        seconds_axes.text(
            0.5, 0.5, "no time recorded", ha="center", transform=seconds_axes.transAxes
        )
    for axes in (agree_axes, seconds_axes):
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7, loc="lower left")
    return reporting.png_uri(figure)


def label_mix(analysis: QualityAnalysis) -> str:
    """Each annotator's share of a, b, tie and both_bad."""
    reports = list(analysis.annotators.values())
    figure = reporting.figure(max(6.0, 1.0 + 0.5 * len(reports)), 3.5)
    axes = figure.add_subplot()
    x = np.arange(len(reports))
    bottom = np.zeros(len(reports))
    for color, category in zip(COLORS, CATEGORIES, strict=True):
        shares = np.array([r.label_counts.get(category, 0) / max(r.labels, 1) for r in reports])
        if shares.any():
            axes.bar(x, shares, bottom=bottom, color=color, label=category)
            bottom += shares
    axes.set_xticks(
        x, [reporting.short(r.name) for r in reports], rotation=60, ha="right", fontsize=8
    )
    axes.set_title("Labels given")
    axes.legend(fontsize=8)
    return reporting.png_uri(figure)
