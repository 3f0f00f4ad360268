"""The whole quality analysis of a label table: agreement, consensus, per-annotator diagnostics.

`analyze` composes the pure functions of this package; `QualityAnalysis.summary` is the JSON that
`rlhf quality report --json` prints, and `rlhf.quality.report` renders the same analysis as HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from rlhf.quality.aggregate import AGGREGATORS
from rlhf.quality.agreement import (
    category_counts,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pair_agreement,
    percent_agreement,
)
from rlhf.quality.bootstrap import Estimate, bootstrap, finite_or_none
from rlhf.quality.consensus import (
    Consensus,
    annotator_gold_accuracy,
    dawid_skene,
    gold_accuracy,
    leave_one_out_majority,
)
from rlhf.quality.diagnostics import (
    LengthBias,
    PositionBias,
    Spam,
    Speed,
    Thresholds,
    length_bias,
    position_bias,
    spam,
    spammer_score,
    speed,
)
from rlhf.quality.fatigue import Fatigue, fatigue
from rlhf.quality.labels import CATEGORIES, MISSING, A, B, Codes, Floats, LabelTable

logger = logging.getLogger(__name__)

K = len(CATEGORIES)

FINDINGS = {
    "position_bias": "position",
    "length_bias": "length",
    "fatigue": "fatigue",
    "too_fast": "speed",
    "spammer": "spam",
}
"""Each per-annotator finding's name (its key in `AnnotatorReport.as_json`) and attribute."""


@dataclass(frozen=True)
class Agreement:
    """Agreement statistics of the whole table, each with a bootstrap interval over items."""

    percent: Estimate
    fleiss_kappa: Estimate
    alpha_nominal: Estimate
    alpha_ordinal: Estimate
    cohen_kappa: dict[tuple[str, str], Estimate] = field(default_factory=dict)
    """Per pair of annotators who share at least one item."""
    pair_agreement: dict[tuple[str, str], float] = field(default_factory=dict)
    shared_items: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """One annotator's session, for the fatigue curves."""

    agreement_positions: Codes  # (n,) session positions of items that had a consensus
    agreement: Floats  # (n,) 1 where the label matched the consensus, else 0
    seconds: Floats  # (m,) seconds per item in session order, nan when not recorded


@dataclass(frozen=True)
class AnnotatorReport:
    """Everything measured about one annotator."""

    name: str
    labels: int
    label_counts: dict[str, int]
    agreement: float | None
    """Agreement with the leave-one-out consensus of the other annotators."""
    gold_accuracy: float | None
    gold_items: int
    position: PositionBias
    length: LengthBias
    fatigue: Fatigue
    speed: Speed
    spam: Spam
    session: Session

    @property
    def findings(self) -> dict[str, PositionBias | LengthBias | Fatigue | Speed | Spam]:
        """Each finding under its name in `FINDINGS` (also its key in `as_json`)."""
        return {name: getattr(self, attribute) for name, attribute in FINDINGS.items()}

    @property
    def flags(self) -> list[str]:
        """The names of the flagged findings."""
        return [name for name, finding in self.findings.items() if finding.flagged]

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "label_counts": self.label_counts,
            "agreement_with_consensus": self.agreement,
            "gold_accuracy": self.gold_accuracy,
            "gold_items": self.gold_items,
            "flags": self.flags,
            **{name: finding.as_json() for name, finding in self.findings.items()},
        }


@dataclass(frozen=True)
class QualityAnalysis:
    table: LabelTable
    agreement: Agreement
    annotators: dict[str, AnnotatorReport]
    consensus: dict[str, Consensus]
    """Each aggregation method's consensus."""
    thresholds: Thresholds

    def gold_accuracy(self) -> dict[str, tuple[float, int]]:
        """Each method's accuracy on gold items, and how many there are."""
        return {m: gold_accuracy(c.labels, self.table.gold) for m, c in self.consensus.items()}

    def summary(self) -> dict[str, Any]:
        """The `--json` summary: plain numbers for the headline statistics, nan as null."""
        agreement = self.agreement
        pair = "|".join
        return {
            "items": len(self.table.items),
            "judgments": int((self.table.codes != MISSING).sum()),
            "skipped_rankings": self.table.skipped,
            "categories": list(self.table.used_categories),
            "percent_agreement": finite_or_none(agreement.percent.value),
            "cohen_kappa": {
                pair(p): finite_or_none(e.value) for p, e in agreement.cohen_kappa.items()
            },
            "fleiss_kappa": finite_or_none(agreement.fleiss_kappa.value),
            "krippendorff_alpha": finite_or_none(agreement.alpha_nominal.value),
            "krippendorff_alpha_ordinal": finite_or_none(agreement.alpha_ordinal.value),
            "intervals": {
                "percent_agreement": agreement.percent.as_json(),
                "fleiss_kappa": agreement.fleiss_kappa.as_json(),
                "krippendorff_alpha": agreement.alpha_nominal.as_json(),
                "krippendorff_alpha_ordinal": agreement.alpha_ordinal.as_json(),
                "cohen_kappa": {pair(p): e.as_json() for p, e in agreement.cohen_kappa.items()},
            },
            "annotators": {name: report.as_json() for name, report in self.annotators.items()},
            "consensus": self._consensus_summary(),
        }

    def _consensus_summary(self) -> dict[str, Any]:
        out = {}
        for method, consensus in self.consensus.items():
            labelled = consensus.labels[consensus.labels != MISSING]
            accuracy, n_gold = gold_accuracy(consensus.labels, self.table.gold)
            out[method] = {
                "labels": {CATEGORIES[c]: int((labelled == c).sum()) for c in np.unique(labelled)},
                "mean_confidence": finite_or_none(float(np.nanmean(consensus.confidence)))
                if labelled.size
                else None,
                "gold_accuracy": finite_or_none(accuracy),
                "gold_items": n_gold,
            }
        return out


def measure_agreement(
    table: LabelTable, *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Agreement:
    """Percent agreement, Fleiss' kappa, Krippendorff's alpha and pairwise Cohen's kappa."""
    codes, ordinal = table.codes, table.ordinal_codes()

    def ci(statistic: Callable[[Codes], float], table_codes: Codes) -> Estimate:
        return bootstrap(
            statistic, table_codes, resamples=resamples, confidence=confidence, seed=seed
        )

    cohen, agree, shared = {}, {}, {}
    for j, k in combinations(range(len(table.annotators)), 2):
        both = (codes[:, j] != MISSING) & (codes[:, k] != MISSING)
        if not both.any():
            continue
        names = (table.annotators[j], table.annotators[k])
        pair_codes = codes[both][:, [j, k]]
        cohen[names] = ci(lambda c: cohen_kappa(c[:, 0], c[:, 1], K), pair_codes)
        agree[names] = pair_agreement(pair_codes[:, 0], pair_codes[:, 1])
        shared[names] = int(both.sum())
    return Agreement(
        percent=ci(percent_agreement, codes),
        fleiss_kappa=ci(lambda c: fleiss_kappa(c, K), codes),
        alpha_nominal=ci(lambda c: krippendorff_alpha(c, K), codes),
        alpha_ordinal=ci(lambda c: krippendorff_alpha(c, 3, "ordinal"), ordinal),
        cohen_kappa=cohen,
        pair_agreement=agree,
        shared_items=shared,
    )


def _annotator(
    table: LabelTable, j: int, loo: np.ndarray, scores: np.ndarray, limits: Thresholds
) -> AnnotatorReport:
    judged = table.judgments
    rows = judged.of(j)
    items, codes = judged.item[rows], judged.code[rows]
    consensus = loo[items, j]
    others = category_counts(table.codes, K)[items]
    others[np.arange(rows.size), codes] -= 1
    n_others = others.sum(axis=1)
    balance = np.where(n_others > 0, (others[:, A] - others[:, B]) / np.maximum(n_others, 1), 0.0)
    compared = consensus != MISSING
    gold_acc, gold_n = annotator_gold_accuracy(table.codes[:, [j]], table.gold)
    return AnnotatorReport(
        name=table.annotators[j],
        labels=int(rows.size),
        label_counts={CATEGORIES[c]: int((codes == c).sum()) for c in np.unique(codes)},
        agreement=float(np.mean(codes[compared] == consensus[compared]))
        if compared.any()
        else None,
        gold_accuracy=finite_or_none(float(gold_acc[0])),
        gold_items=int(gold_n[0]),
        position=position_bias(
            codes, judged.left[rows], consensus, judged.left_known[rows], limits
        ),
        length=length_bias(codes, table.lengths[items], balance, n_others > 0, limits),
        fatigue=fatigue(codes, consensus, judged.seconds[rows], judged.position[rows], limits),
        speed=speed(judged.seconds[rows], judged.seconds[judged.annotator != j], limits),
        spam=spam(codes, consensus, K, limits, finite_or_none(float(scores[j]))),
        session=Session(
            agreement_positions=judged.position[rows][compared],
            agreement=(codes[compared] == consensus[compared]).astype(np.float64),
            seconds=judged.seconds[rows],
        ),
    )


def analyze(
    table: LabelTable,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    thresholds: Thresholds | None = None,
) -> QualityAnalysis:
    """Agreement with intervals, every aggregator's consensus, and every annotator's diagnostics."""
    limits = thresholds or Thresholds(seed=seed)
    agreement = measure_agreement(table, resamples=resamples, confidence=confidence, seed=seed)
    loo = leave_one_out_majority(table.codes, K)
    ds = dawid_skene(table.codes, K, classes=(A, B))
    scores = np.array([spammer_score(ds.confusions[j]) for j in range(len(table.annotators))])
    annotators = {
        name: _annotator(table, j, loo, scores, limits) for j, name in enumerate(table.annotators)
    }
    consensus = {method: aggregate(table) for method, aggregate in AGGREGATORS.items()}
    logger.info("analyzed %d items, %d annotators", len(table.items), len(table.annotators))
    return QualityAnalysis(table, agreement, annotators, consensus, limits)
