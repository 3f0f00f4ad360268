"""The quality report: one self-contained HTML file (tables, and charts as base64 PNG).

Every string from the data (annotator names, verdicts, the source label) is escaped; the file
loads nothing from the network. `render` returns the HTML; the CLI writes it atomically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import numpy as np

from rlhf.quality import plots
from rlhf.quality.agreement import cohen_kappa, pairwise
from rlhf.quality.analysis import AnnotatorReport, QualityAnalysis
from rlhf.quality.bootstrap import Estimate
from rlhf.quality.labels import CATEGORIES

MAX_PAIRS = 60
"""Annotator pairs listed in the pairwise table (those sharing the most items)."""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { color: #b00020; font-weight: 600; }
.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; }
"""


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table; every cell is escaped here, so callers pass plain text."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = (
            f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _interval(estimate: Estimate) -> str:
    if math.isnan(estimate.low):
        return "n/a"
    return f"[{estimate.low:.3f}, {estimate.high:.3f}]"


def _agreement_section(analysis: QualityAnalysis) -> str:
    a = analysis.agreement
    rows = [
        ("Percent agreement", a.percent, "share of annotator pairs giving the same label"),
        ("Fleiss' kappa", a.fleiss_kappa, "agreement beyond chance, all annotators"),
        ("Krippendorff's alpha (nominal)", a.alpha_nominal, "the same, robust to missing labels"),
        ("Krippendorff's alpha (ordinal)", a.alpha_ordinal, "b < tie < a; near misses count less"),
    ]
    table = _table(
        ["statistic", "value", f"{a.percent.confidence:.0%} interval", "meaning"],
        [(name, _number(e.value), _interval(e), meaning) for name, e, meaning in rows],
        {1, 2},
    )
    pairs = sorted(a.cohen_kappa, key=lambda p: -a.shared_items[p])[:MAX_PAIRS]
    pair_rows = [
        (
            f"{p[0]} | {p[1]}",
            str(a.shared_items[p]),
            _percent(a.pair_agreement[p]),
            _number(a.cohen_kappa[p].value),
            _interval(a.cohen_kappa[p]),
        )
        for p in pairs
    ]
    pair_table = _table(
        ["annotators", "shared items", "agreement", "Cohen's kappa", "interval"],
        pair_rows,
        {1, 2, 3, 4},
    )
    names = analysis.table.annotators
    codes = analysis.table.codes
    matrix = pairwise(codes, lambda x, y: cohen_kappa(x, y, len(CATEGORIES)))
    shared = pairwise(codes, lambda x, y: float(((x >= 0) & (y >= 0)).sum()))
    heatmap = plots.kappa_heatmap(names, matrix, shared) if len(names) >= 2 else None
    image = f'<img alt="agreement heatmap" src="{heatmap}">' if heatmap else ""
    return f"<h2>Agreement</h2>{table}{image}<h3>Pairs of annotators</h3>{pair_table}"


def _annotator_row(report: AnnotatorReport) -> list[str]:
    return [
        report.name,
        str(report.labels),
        _percent(report.agreement),
        _percent(report.gold_accuracy) if report.gold_items else "n/a",
        _percent(report.position.value),
        _percent(report.length.longer_rate),
        _number(report.fatigue.value, 2),
        _number(report.speed.median_seconds, 1),
        _number(report.spam.value, 2),
        ", ".join(report.flags) or "none",
    ]


def _annotators_section(analysis: QualityAnalysis) -> str:
    reports = list(analysis.annotators.values())
    header = [
        "annotator", "labels", "agrees with consensus", "gold accuracy", "left", "longer",
        "fatigue (change)", "median s", "kappa vs consensus", "flags",
    ]  # fmt: skip
    table = _table(header, [_annotator_row(r) for r in reports], set(range(1, 9)))
    findings = []
    for report in reports:
        items = "".join(
            f'<li class="{"flag" if f.flagged else ""}">{escape(name)}: {escape(f.verdict)}</li>'
            for name, f in report.findings.items()
        )
        findings.append(f"<h3>{escape(report.name)}</h3><ul>{items}</ul>")
    charts = [plots.bias_chart(reports), plots.label_mix(analysis)]
    curves = plots.fatigue_curves(reports)
    if curves:
        charts.append(curves)
    images = "".join(f'<img alt="annotator chart" src="{c}">' for c in charts)
    return f"<h2>Annotators</h2>{table}{images}<h2>Findings</h2>{''.join(findings)}"


def _consensus_section(analysis: QualityAnalysis) -> str:
    gold = analysis.gold_accuracy()
    rows = []
    for method, consensus in analysis.consensus.items():
        counts = [str(int((consensus.labels == c).sum())) for c in range(len(CATEGORIES))]
        accuracy, n = gold[method]
        confidence = consensus.confidence[np.isfinite(consensus.confidence)]
        rows.append(
            [
                method,
                *counts,
                _number(float(confidence.mean()) if confidence.size else math.nan),
                f"{_percent(accuracy)} of {n}" if n else "no gold items",
            ]
        )
    header = ["method", *CATEGORIES, "mean confidence", "accuracy on gold items"]
    note = (
        '<p class="note">Gold items are annotations with <code>metadata.gold</code>. '
        "<code>rlhf quality aggregate --method M</code> writes the consensus as training pairs.</p>"
    )
    return f"<h2>Consensus</h2>{_table(header, rows, set(range(1, 7)))}{note}"


def render(analysis: QualityAnalysis, *, title: str = "Annotation quality") -> str:
    """The whole report as one HTML document."""
    table = analysis.table
    order = "created_at" if table.ordered_by_time else "the order given (no timestamps)"
    overview = (
        f"<p>{len(table.items)} items, {int((table.codes >= 0).sum())} judgments by "
        f"{len(table.annotators)} annotators; labels used: "
        f"{escape(', '.join(table.used_categories))}. Session order: {escape(order)}."
        + (f" {table.skipped} annotations by ranks left out." if table.skipped else "")
        + f" Tests at significance {analysis.thresholds.alpha}.</p>"
    )
    body = (
        f"<h1>{escape(title)}</h1>{overview}"
        + _agreement_section(analysis)
        + _annotators_section(analysis)
        + _consensus_section(analysis)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
