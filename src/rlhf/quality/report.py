"""The quality report: one self-contained HTML file (tables, and charts as base64 PNG).

Every string from the data (annotator names, verdicts, the source label) is escaped; the file
loads nothing from the network. `render` returns the HTML; the CLI writes it atomically. The
tables of agreement, annotators, findings and consensus are drawn from the JSON summary
(`QualityAnalysis.summary()`), so `rlhf report` shows a saved summary the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from rlhf.quality import plots
from rlhf.quality.agreement import cohen_kappa, pairwise
from rlhf.quality.analysis import FINDINGS, QualityAnalysis
from rlhf.quality.labels import CATEGORIES
from rlhf.reporting import image, interval, number, page, percent, table

MAX_PAIRS = 60
"""Annotator pairs listed in the pairwise table (those sharing the most items)."""

AGREEMENT = (
    ("percent_agreement", "Percent agreement", "share of annotator pairs giving the same label"),
    ("fleiss_kappa", "Fleiss' kappa", "agreement beyond chance, all annotators"),
    ("krippendorff_alpha", "Krippendorff's alpha (nominal)", "the same, robust to missing labels"),
    ("krippendorff_alpha_ordinal", "Krippendorff's alpha (ordinal)",
     "b < tie < a; near misses count less"),
)  # fmt: skip
"""The headline statistics: key in the summary's `intervals`, name, meaning."""

Summary = Mapping[str, Any]
"""`QualityAnalysis.summary()`, or the same read back from JSON."""


def agreement_table(summary: Summary) -> str:
    """The headline agreement statistics with their bootstrap intervals."""
    intervals = summary["intervals"]
    confidence = intervals["percent_agreement"]["confidence"]
    rows = [
        (name, number(intervals[key]["value"]),
         interval(intervals[key]["low"], intervals[key]["high"]), meaning)
        for key, name, meaning in AGREEMENT
    ]  # fmt: skip
    return table(["statistic", "value", f"{confidence:.0%} interval", "meaning"], rows, {1, 2})


def _pairs_table(analysis: QualityAnalysis) -> str:
    a = analysis.agreement
    pairs = sorted(a.cohen_kappa, key=lambda p: -a.shared_items[p])[:MAX_PAIRS]
    rows = [
        (
            f"{p[0]} | {p[1]}",
            str(a.shared_items[p]),
            percent(a.pair_agreement[p]),
            number(a.cohen_kappa[p].value),
            interval(a.cohen_kappa[p].low, a.cohen_kappa[p].high),
        )
        for p in pairs
    ]
    header = ["annotators", "shared items", "agreement", "Cohen's kappa", "interval"]
    return table(header, rows, {1, 2, 3, 4})


def _agreement_section(analysis: QualityAnalysis, summary: Summary) -> str:
    names = analysis.table.annotators
    codes = analysis.table.codes
    matrix = pairwise(codes, lambda x, y: cohen_kappa(x, y, len(CATEGORIES)))
    shared = pairwise(codes, lambda x, y: float(((x >= 0) & (y >= 0)).sum()))
    heatmap = plots.kappa_heatmap(names, matrix, shared) if len(names) >= 2 else None
    return (
        f"<h2>Agreement</h2>{agreement_table(summary)}"
        + (image(heatmap, "agreement heatmap") if heatmap else "")
        + f"<h3>Pairs of annotators</h3>{_pairs_table(analysis)}"
    )


def _annotator_row(name: str, a: Mapping[str, Any]) -> list[str]:
    return [
        name,
        str(a["labels"]),
        percent(a["agreement_with_consensus"]),
        percent(a["gold_accuracy"]) if a["gold_items"] else "n/a",
        percent(a["position_bias"]["value"]),
        percent(a["length_bias"]["longer_rate"]),
        number(a["fatigue"]["value"], 2),
        number(a["too_fast"]["median_seconds"], 1),
        number(a["spammer"]["value"], 2),
        ", ".join(a["flags"]) or "none",
    ]


def annotator_table(summary: Summary) -> str:
    """One row per annotator: labels, agreement, gold accuracy, biases, speed, spam, flags."""
    header = [
        "annotator", "labels", "agrees with consensus", "gold accuracy", "left", "longer",
        "fatigue (change)", "median s", "kappa vs consensus", "flags",
    ]  # fmt: skip
    rows = [_annotator_row(name, a) for name, a in summary["annotators"].items()]
    return table(header, rows, range(1, 9))


def findings_lists(summary: Summary, level: int = 3) -> str:
    """Each annotator's findings in words, flagged ones in red, under an `<h{level}>` heading."""
    out = []
    for name, annotator in summary["annotators"].items():
        items = "".join(
            f'<li class="{"flag" if annotator[f]["flagged"] else ""}">{escape(f)}: '
            f"{escape(annotator[f]['verdict'])}</li>"
            for f in FINDINGS
        )
        out.append(f"<h{level}>{escape(name)}</h{level}><ul>{items}</ul>")
    return "".join(out)


def _annotators_section(analysis: QualityAnalysis, summary: Summary) -> str:
    charts = [plots.bias_chart(summary["annotators"]), plots.label_mix(analysis)]
    curves = plots.fatigue_curves(list(analysis.annotators.values()))
    if curves:
        charts.append(curves)
    images = "".join(image(chart, "annotator chart") for chart in charts)
    return (
        f"<h2>Annotators</h2>{annotator_table(summary)}{images}"
        f"<h2>Findings</h2>{findings_lists(summary)}"
    )


def consensus_table(summary: Summary) -> str:
    """Per aggregation method: its labels, mean confidence and accuracy on gold items."""
    rows = [
        [
            method,
            *(str(c["labels"].get(category, 0)) for category in CATEGORIES),
            number(c["mean_confidence"]),
            f"{percent(c['gold_accuracy'])} of {c['gold_items']}"
            if c["gold_items"]
            else "no gold items",
        ]
        for method, c in summary["consensus"].items()
    ]
    header = ["method", *CATEGORIES, "mean confidence", "accuracy on gold items"]
    return table(header, rows, range(1, 7))


def _consensus_section(summary: Summary) -> str:
    note = (
        '<p class="note">Gold items are annotations with <code>metadata.gold</code>. '
        "<code>rlhf quality aggregate --method M</code> writes the consensus as training pairs.</p>"
    )
    return f"<h2>Consensus</h2>{consensus_table(summary)}{note}"


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
    summary = analysis.summary()
    body = (
        f"<h1>{escape(title)}</h1>{overview}"
        + _agreement_section(analysis, summary)
        + _annotators_section(analysis, summary)
        + _consensus_section(summary)
    )
    return page(title, body)
