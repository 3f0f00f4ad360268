"""Consensus labels from several annotators: majority vote, Dawid-Skene EM, accuracy on gold items.

Each aggregator returns a `Consensus`: a label per item (a category code, `MISSING` when there is
none), the probability that this label is right, and the probability that response a is better
than b (ties count half: P(a > b) = (p_a + p_tie / 2) / (p_a + p_b + p_tie)), which is the soft
label a reward model can train on. The crowd Bradley-Terry aggregator is in `bradley_terry`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rlhf.quality.agreement import category_counts
from rlhf.quality.labels import MISSING, TIE, A, B, Codes, Floats

logger = logging.getLogger(__name__)

Split = Literal["tie", "none", "random"]


@dataclass(frozen=True)
class Consensus:
    """One label per item with how far to trust it."""

    labels: Codes  # (I,) category code, MISSING where no label could be given
    confidence: Floats  # (I,) probability that the label is right
    prefer_a: Floats  # (I,) P(a > b), ties counted half; nan when no category expresses one


def prefer_a(posteriors: Floats) -> Floats:
    """P(a > b) from category probabilities, a tie counting half.

        P(a > b) = (p_a + p_tie / 2) / (p_a + p_b + p_tie)

    posteriors: (I, K) over the codes of `rlhf.quality.labels` -> (I,), nan where only
    `both_bad` has mass (no preference is expressed).
    """
    decisive = posteriors[:, A] + posteriors[:, B] + posteriors[:, TIE]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (posteriors[:, A] + posteriors[:, TIE] / 2) / decisive
    return np.where(decisive > 0, p, np.nan)


def majority_vote(
    codes: Codes, n_categories: int, *, split: Split = "tie", seed: int = 0
) -> Consensus:
    """The most frequent label of each item; posteriors are the vote shares.

        label_i = argmax_k n_ik,   confidence_i = n_i,label / m_i

    A split vote (several categories share the most votes) is resolved by `split`: `tie` gives
    the `tie` label when the split involves a, b or tie (the annotators cancel out: no preference
    is drawn) and no label otherwise; `none` gives no label; `random` picks one of the tied
    categories (seeded). codes: (I, J) -> Consensus over I items.
    """
    counts = category_counts(codes, n_categories)
    m = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(m > 0, counts / m, 0.0)
    top = counts == counts.max(axis=1, keepdims=True)
    unique = top.sum(axis=1) == 1
    labels = np.where(unique & (m[:, 0] > 0), counts.argmax(axis=1), MISSING)
    tied = ~unique & (m[:, 0] > 0)
    if split == "tie":
        preference = top[:, [A, B, TIE]].any(axis=1)
        labels = np.where(tied & preference, TIE, labels)
    elif split == "random":
        rng = np.random.default_rng(seed)
        noise = rng.random(counts.shape) * top
        labels = np.where(tied, noise.argmax(axis=1), labels)
    confidence = np.where(labels >= 0, shares[np.arange(len(labels)), labels], np.nan)
    return Consensus(labels.astype(np.int64), confidence, prefer_a(shares))


@dataclass(frozen=True)
class DawidSkene:
    """The fitted Dawid-Skene model."""

    consensus: Consensus
    posteriors: Floats  # (I, K) P(true class of item i = k | labels); 0 for non-latent k
    confusions: Floats  # (J, C, K) P(annotator j says l | true class classes[c]), [j, c, l]
    priors: Floats  # (C,) class prevalence
    classes: tuple[int, ...]
    """The latent (true) classes, as category codes."""
    log_likelihood: float
    iterations: int


def _m_step(
    codes: Codes, posteriors: Floats, n_categories: int, smoothing: float
) -> tuple[Floats, Floats]:
    """Priors (C,) and confusions (J, C, K) maximizing the expected complete log-likelihood."""
    n_classes = posteriors.shape[1]
    counts = np.full((codes.shape[1], n_classes, n_categories), smoothing)
    rows, columns = np.nonzero(codes != MISSING)
    labels = codes[rows, columns]
    for c in range(n_classes):  # counts[j, c, l] += P(z_i = c) for each label l of j on i
        np.add.at(counts[:, c, :], (columns, labels), posteriors[rows, c])
    counts = np.maximum(counts, 1e-10)
    confusions = counts / counts.sum(axis=2, keepdims=True)
    labelled = np.zeros(codes.shape[0], dtype=bool)
    labelled[rows] = True  # an item nobody labelled says nothing about the prevalence
    priors = np.maximum(posteriors[labelled].sum(axis=0) + smoothing, 1e-10)
    return priors / priors.sum(), confusions


def _e_step(codes: Codes, priors: Floats, confusions: Floats) -> tuple[Floats, float]:
    """Posterior class probabilities (I, C) of each item, and the log-likelihood of the labels."""
    log_joint = np.tile(np.log(priors), (codes.shape[0], 1))
    rows, columns = np.nonzero(codes != MISSING)
    np.add.at(log_joint, rows, np.log(confusions[columns, :, codes[rows, columns]]))
    top = log_joint.max(axis=1, keepdims=True)
    joint = np.exp(log_joint - top)
    total = joint.sum(axis=1, keepdims=True)
    return joint / total, float((np.log(total) + top).sum())


def dawid_skene(
    codes: Codes,
    n_categories: int,
    *,
    classes: tuple[int, ...] | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkene:
    """Dawid & Skene (1979) EM: per-annotator confusion matrices and true-label posteriors.

        P(labels of i, z_i = c) = pi_c prod_j theta_j[c, y_ij]

    E-step: P(z_i = c | y) proportional to pi_c prod_j theta_j[c, y_ij]; M-step:
    theta_j[c, l] proportional to smoothing + sum_i P(z_i = c) [y_ij = l], pi_c proportional to
    smoothing + sum_i P(z_i = c). The latent classes are `classes` (default: every category);
    labels outside them are still observed (e.g. latent a/b, observed a/b/tie/both_bad: a tie
    vote is then a noisy report of a true preference). Initialized from the majority-vote shares
    over the classes; stops when the log-likelihood gains less than `tolerance` (relative).
    Dawid & Skene, "Maximum likelihood estimation of observer error-rates using the EM
    algorithm", Applied Statistics 28 (1979).
    codes: (I, J) -> DawidSkene with posteriors (I, K), confusions (J, C, K).
    """
    latent = tuple(range(n_categories)) if classes is None else tuple(classes)
    counts = category_counts(codes, n_categories)
    shares = counts[:, latent]
    m = shares.sum(axis=1, keepdims=True)
    posteriors = np.where(m > 0, shares / np.maximum(m, 1), 1.0 / len(latent))
    priors, confusions = _m_step(codes, posteriors, n_categories, smoothing)
    previous, iterations, log_likelihood = -np.inf, 0, -np.inf
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        posteriors, log_likelihood = _e_step(codes, priors, confusions)
        priors, confusions = _m_step(codes, posteriors, n_categories, smoothing)
        if abs(log_likelihood - previous) <= tolerance * max(1.0, abs(log_likelihood)):
            break
        previous = log_likelihood
    else:
        logger.info("Dawid-Skene stopped after %d iterations without converging", iterations)
    full = np.zeros((codes.shape[0], n_categories))
    full[:, latent] = posteriors
    labelled = counts.sum(axis=1) > 0
    labels = np.where(labelled, full.argmax(axis=1), MISSING).astype(np.int64)
    confidence = np.where(labelled, full.max(axis=1), np.nan)
    consensus = Consensus(labels, confidence, prefer_a(full))
    return DawidSkene(consensus, full, confusions, priors, latent, log_likelihood, iterations)


def bic(model: DawidSkene, codes: Codes) -> float:
    """Schwarz's (1978) Bayesian information criterion of a fitted Dawid-Skene model.

        BIC = -2 log L + p log I,   p = (C - 1) + J C (L - 1)

    with C latent classes, J annotators, L label categories in use, I items. Lower is better.
    """
    used = int(np.unique(codes[codes != MISSING]).size)
    n_classes = len(model.classes)
    parameters = (n_classes - 1) + codes.shape[1] * n_classes * max(used - 1, 0)
    return float(-2 * model.log_likelihood + parameters * math.log(max(codes.shape[0], 1)))


def dawid_skene_bic(
    codes: Codes, n_categories: int, candidates: list[tuple[int, ...]]
) -> DawidSkene:
    """The Dawid-Skene model whose latent classes (one of `candidates`) minimize the BIC.

    Whether "tie" is a true state of some items, or only a label annotators use when unsure, is
    a question for the data: a tie class that the data support lowers the BIC; a spare one (that
    EM would fill with contested items) costs its J C (L - 1) parameters. codes: (I, J).
    """
    fits = [dawid_skene(codes, n_categories, classes=classes) for classes in candidates]
    return min(fits, key=lambda model: bic(model, codes))


def gold_accuracy(labels: Codes, gold: Codes) -> tuple[float, int]:
    """Accuracy on gold items: the share of items with a known label where `labels` match it.

    labels, gold: (I,) codes, gold MISSING where unknown; an item without a label counts as wrong.
    Returns (accuracy, number of gold items); nan accuracy when there are none.
    """
    known = gold != MISSING
    n = int(known.sum())
    return (float(np.mean(labels[known] == gold[known])) if n else float("nan")), n


def annotator_gold_accuracy(codes: Codes, gold: Codes) -> tuple[Floats, Codes]:
    """Each annotator's accuracy on the gold items they labelled.

    codes: (I, J), gold: (I,) -> (accuracy (J,), nan where none; count (J,)).
    """
    judged = (codes != MISSING) & (gold != MISSING)[:, None]
    hits = ((codes == gold[:, None]) & judged).sum(axis=0)
    n = judged.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hits / n, np.nan), n.astype(np.int64)


def leave_one_out_majority(codes: Codes, n_categories: int) -> Codes:
    """For each label, the majority of the *other* annotators of the same item.

        c_ij = argmax_k (n_ik - [y_ij = k]),   MISSING when y_ij is missing, no other annotator
        labelled item i, or the others' vote is split.

    Comparing an annotator with a consensus that excludes their own label keeps them from
    agreeing with themselves (which matters most with few annotators per item).
    codes: (I, J) -> (I, J).
    """
    counts = category_counts(codes, n_categories)
    others = np.repeat(counts[:, None, :], codes.shape[1], axis=1)  # (I, J, K)
    rows, columns = np.nonzero(codes != MISSING)
    others[rows, columns, codes[rows, columns]] -= 1
    top = others == others.max(axis=2, keepdims=True)
    decided = (top.sum(axis=2) == 1) & (others.sum(axis=2) > 0) & (codes != MISSING)
    return np.where(decided, others.argmax(axis=2), MISSING).astype(np.int64)
