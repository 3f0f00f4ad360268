"""Per-annotator diagnostics: position bias, length bias, fatigue, too-fast answering, spam.

Each takes one annotator's judgments as arrays, in session order, and returns a frozen dataclass
with a headline `value`, a test `statistic` and `p_value` where a test applies, whether it is
`flagged`, and a plain-language `verdict`. "Consensus" here is the leave-one-out majority of the
other annotators of the same item (`consensus.leave_one_out_majority`), MISSING where there is
none; an annotator is never compared with their own label.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest, mannwhitneyu

from rlhf.quality.bootstrap import finite_or_none
from rlhf.quality.labels import MISSING, A, B, Bools, Codes, Floats
from rlhf.quality.regression import likelihood_ratio_test


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When a finding is flagged. Effects must be both significant and large enough to matter."""

    alpha: float = 0.01
    """Significance level of every test."""
    min_items: int = 30
    """Fewest judgments a finding needs before it can be flagged."""
    position_effect: float = 0.1
    """Smallest |left rate - 0.5| worth flagging."""
    length_effect: float = 0.25
    """Smallest |log-odds change per doubling of relative length| worth flagging."""
    min_kappa: float = 0.2
    """Kappa with the consensus below which labels not shown to beat chance are called random."""
    fast_ratio: float = 0.5
    """Median seconds below this share of the other annotators' median is too fast."""
    min_segment: int = 10
    """Shortest stretch of a session a change point may cut off."""
    permutations: int = 999
    """Permutations of the change-point test."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.min_items < 1 or self.min_segment < 1 or self.permutations < 1:
            raise ValueError("min_items, min_segment and permutations must be at least 1")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What every diagnostic reports."""

    value: float | None
    statistic: float | None = None
    p_value: float | None = None
    n: int
    """Judgments the finding rests on."""
    flagged: bool = False
    verdict: str

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = finite_or_none(value) if isinstance(value, float) else value
        return out


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _kappa_text(kappa: float) -> str:
    return "undefined" if math.isnan(kappa) else f"{kappa:.2f}"


def _enough(n: int, limits: Thresholds) -> bool:
    return n >= limits.min_items


@dataclass(frozen=True, kw_only=True)
class PositionBias(Finding):
    """value: rate of choosing the response shown on the left, among decisive (a/b) judgments."""

    consensus_left_rate: float | None = None
    """How often the consensus winner was on this annotator's left (what an unbiased annotator
    who always agreed with the consensus would show)."""
    order_known: bool = True
    """False when display order was not recorded and `a` is assumed to have been on the left."""


def position_bias(
    codes: Codes, left: Codes, consensus: Codes, order_known: Bools, limits: Thresholds
) -> PositionBias:
    """Left-choice rate with a two-sided exact binomial test against 1/2.

    codes, left, consensus, order_known: (n,) for one annotator -> PositionBias.
    """
    decisive = np.isin(codes, [A, B])
    chose_left = ((codes == A) & (left == 0)) | ((codes == B) & (left == 1))
    n, k = int(decisive.sum()), int(chose_left[decisive].sum())
    known = bool(order_known.all())
    if n == 0:
        return PositionBias(value=None, n=0, verdict="no a/b judgments", order_known=known)
    rate, p = k / n, float(binomtest(k, n, 0.5).pvalue)
    with_consensus = decisive & np.isin(consensus, [A, B])
    winner_left = ((consensus == A) & (left == 0)) | ((consensus == B) & (left == 1))
    expected = float(winner_left[with_consensus].mean()) if with_consensus.any() else None
    flagged = _enough(n, limits) and p < limits.alpha and abs(rate - 0.5) >= limits.position_effect
    verdict = f"chose the left response in {rate:.0%} of {n} decisive judgments ({p_text(p)})"
    verdict += ": position bias" if flagged else ": no position bias found"
    if expected is not None and flagged and abs(expected - 0.5) >= limits.position_effect:
        verdict += f" (but the consensus winner was on the left {expected:.0%} of the time)"
    if not known:
        verdict += "; display order not recorded, response a assumed on the left"
    return PositionBias(
        value=rate,
        statistic=float(k),
        p_value=p,
        n=n,
        flagged=flagged,
        verdict=verdict,
        consensus_left_rate=expected,
        order_known=known,
    )


@dataclass(frozen=True, kw_only=True)
class LengthBias(Finding):
    """value: change in the log-odds of choosing a response per doubling of its relative length,
    holding the other annotators' votes fixed."""

    longer_rate: float | None = None
    """Share of decisive judgments (between responses of different length) won by the longer."""


def length_bias(
    codes: Codes, lengths: Floats, others_balance: Floats, has_others: Bools, limits: Thresholds
) -> LengthBias:
    """Length preference beyond the consensus: a logistic regression with a likelihood-ratio test.

        logit P(choose a) = w0 + w1 c + w2 log2((len_a + 1) / (len_b + 1))

    c = (votes for a - votes for b) / other annotators of the item, over the judgments of items
    that other annotators also labelled (`has_others`). H0: w2 = 0. `longer_rate` counts all.
    codes: (n,), lengths: (n, 2) characters of a and b, others_balance, has_others: (n,).
    """
    decisive = np.isin(codes, [A, B])
    differs = decisive & (lengths[:, 0] != lengths[:, 1])
    longer = (codes == A) == (lengths[:, 0] > lengths[:, 1])
    longer_rate = float(longer[differs].mean()) if differs.any() else None
    seen = "all responses judged had equal lengths"
    if longer_rate is not None:
        seen = f"chose the longer response in {longer_rate:.0%} of {int(differs.sum())} judgments"
    tested = decisive & has_others
    n = int(tested.sum())
    if n < 3:
        verdict = f"{seen}; too few judgments shared with other annotators to separate length from quality"
        return LengthBias(value=None, n=n, verdict=verdict, longer_rate=longer_rate)
    chose_a = (codes[tested] == A).astype(np.float64)
    ratio = np.log2((lengths[tested, 0] + 1) / (lengths[tested, 1] + 1))
    features = np.column_stack([np.ones(n), others_balance[tested], ratio])
    test = likelihood_ratio_test(features, chose_a, column=2)
    flagged = (
        _enough(n, limits)
        and test.p_value < limits.alpha
        and abs(test.coefficient) >= limits.length_effect
    )
    verdict = (
        f"{seen}; beyond the other annotators' votes ({n} judgments), doubling a response's "
        f"relative length multiplies the odds of choosing it by {math.exp(test.coefficient):.2f} "
        f"({p_text(test.p_value)})"
    )
    verdict += ": length bias" if flagged else ": no length bias found"
    return LengthBias(
        value=test.coefficient,
        statistic=test.statistic,
        p_value=test.p_value,
        n=n,
        flagged=flagged,
        verdict=verdict,
        longer_rate=longer_rate,
    )


@dataclass(frozen=True, kw_only=True)
class Speed(Finding):
    """value: this annotator's median seconds per item over the other annotators' median."""

    median_seconds: float | None = None
    fast_share: float | None = None
    """Share of items answered in under `fast_ratio` times the others' median."""


def speed(seconds: Floats, others_seconds: Floats, limits: Thresholds) -> Speed:
    """Too-fast answering: one-sided Mann-Whitney U test that this annotator is faster.

    seconds: (n,) this annotator's times, others_seconds: (m,) everyone else's; nan = unknown.
    """
    mine, theirs = seconds[np.isfinite(seconds)], others_seconds[np.isfinite(others_seconds)]
    if not mine.size:
        return Speed(value=None, n=0, verdict="no time recorded")
    median = float(np.median(mine))
    if not theirs.size:
        verdict = f"median {median:.1f} s per item; no other annotators' times to compare with"
        return Speed(value=None, n=int(mine.size), verdict=verdict, median_seconds=median)
    reference = float(np.median(theirs))
    ratio = median / reference if reference > 0 else math.inf
    test = mannwhitneyu(mine, theirs, alternative="less")
    p = float(test.pvalue)
    fast_share = float(np.mean(mine < limits.fast_ratio * reference))
    flagged = _enough(mine.size, limits) and p < limits.alpha and ratio < limits.fast_ratio
    verdict = (
        f"median {median:.1f} s per item against {reference:.1f} s for the others "
        f"({ratio:.0%}; {fast_share:.0%} of items under {limits.fast_ratio:.0%} of it; {p_text(p)})"
    )
    verdict += ": answers too fast to have read the responses" if flagged else ": speed normal"
    return Speed(
        value=ratio,
        statistic=float(test.statistic),
        p_value=p,
        n=int(mine.size),
        flagged=flagged,
        verdict=verdict,
        median_seconds=median,
        fast_share=fast_share,
    )


@dataclass(frozen=True, kw_only=True)
class Spam(Finding):
    """value: Cohen's kappa between this annotator and the consensus of the others."""

    agreement: float | None = None
    chance: float | None = None
    """Agreement expected by chance from the two label distributions."""
    spammer_score: float | None = None
    """Raykar & Yu's score from the Dawid-Skene confusion matrix: 0 = labels independent of the
    truth (a spammer), 1 = a perfect annotator."""


def spammer_score(confusion: Floats) -> float:
    """Raykar & Yu (2012): how far the rows of a confusion matrix are from being identical.

        S = 1 / (K (K - 1)) sum_{c < c'} sum_l (A_cl - A_c'l)^2

    A: (K, K) with rows P(label l | true class c) over the classes in use -> S in [0, 1].
    Raykar & Yu, "Eliminating spammers and ranking annotators for crowdsourced labeling tasks",
    JMLR 13 (2012).
    """
    k = confusion.shape[0]
    if k < 2:
        return math.nan
    differences = confusion[:, None, :] - confusion[None, :, :]
    return float((differences**2).sum() / 2 / (k * (k - 1)))


def spam(
    codes: Codes,
    consensus: Codes,
    n_categories: int,
    limits: Thresholds,
    score: float | None = None,
) -> Spam:
    """Random or adversarial labelling, from agreement with the consensus.

        kappa = (p_o - p_e) / (1 - p_e),   p_e = sum_k p_self(k) p_consensus(k)

    Random: kappa < min_kappa and a one-sided binomial test cannot show agreement above chance
    (p >= alpha; the reported p-value). Adversarial: agreement significantly *below* chance.
    codes, consensus: (n,) -> Spam.
    """
    compared = consensus != MISSING
    mine, theirs = codes[compared], consensus[compared]
    n = int(mine.size)
    if n == 0:
        verdict = "never labelled an item the others agreed on: cannot be checked"
        return Spam(value=None, n=0, verdict=verdict, spammer_score=score)
    hits = int((mine == theirs).sum())
    observed = hits / n
    p_mine = np.bincount(mine, minlength=n_categories) / n
    p_theirs = np.bincount(theirs, minlength=n_categories) / n
    chance = min(float(p_mine @ p_theirs), 1.0)
    kappa = (observed - chance) / (1 - chance) if chance < 1 else math.nan
    p = float(binomtest(hits, n, chance, "greater").pvalue)
    p_below = float(binomtest(hits, n, chance, "less").pvalue)
    enough = _enough(n, limits) and not math.isnan(kappa)
    reversed_ = enough and kappa < 0 and p_below < limits.alpha
    random_ = enough and kappa < limits.min_kappa and p >= limits.alpha
    verdict = (
        f"agrees with the consensus on {observed:.0%} of {n} items, {chance:.0%} expected by "
        f"chance (kappa {_kappa_text(kappa)}, above chance: {p_text(p)})"
    )
    if reversed_:
        verdict += ": labels look reversed (adversarial, or the sides swapped)"
    elif random_:
        verdict += ": labels look random (a spammer)"
    else:
        verdict += ": labels carry information" if enough else ": too few items to judge"
    flagged = reversed_ or random_
    return Spam(
        value=kappa,
        statistic=float((mine == theirs).sum()),
        p_value=p,
        n=n,
        flagged=flagged,
        verdict=verdict,
        agreement=observed,
        chance=chance,
        spammer_score=score,
    )
