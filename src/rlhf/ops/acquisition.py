"""Which items to ask people about next: an ensemble's disagreement on a pairwise decision.

An ensemble of K reward heads (each fit on its own bootstrap resample; Lakshminarayanan et al. 2017)
scores both responses a and b of an item. Head k's margin is d_k = r_k(a) - r_k(b), raw, on the
Bradley-Terry scale (head k says P(a better) = sigmoid(d_k)); the ensemble decides by the mean
margin, a when mean_k d_k > 0. Its disagreement on the item, the query-by-committee criterion
(Seung, Opper & Sompolinsky 1992), is one of `DISAGREEMENTS`:

    std:   sqrt( (1/K) sum_k (d_k - mean d)^2 )            the spread of the heads' margins
    vote:  (1/K) sum_k [ (d_k > 0) != (mean d > 0) ]       the share of heads that decide otherwise

`most_uncertain` picks the items with the largest disagreement: the ones to send to people.

Gleave & Irving 2022 ("Uncertainty estimation for language reward models", arXiv:2203.07472) found
that ensemble active learning of language reward models did not beat random sampling: members
fine-tuned from one pretrained model err alike, so their disagreement says little about error.
Heads on one frozen encoder share that weakness; examples/moderation.py measures the comparison on
HH-RLHF harmless pairs (docs/moderation.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["DISAGREEMENTS", "margin_std", "most_uncertain", "vote_disagreement"]


def margin_std(margins: Tensor) -> Tensor:
    """The population standard deviation over heads of each item's margin.

    Args:
        margins: (N, K) d_k = r_k(a) - r_k(b) of item n under head k.

    Returns:
        (N,) std_k d_k; 0 where every head gives the same margin.
    """
    return margins.std(dim=-1, correction=0)


def vote_disagreement(margins: Tensor) -> Tensor:
    """The share of heads whose decision differs from the ensemble's (mean margin) decision.

    A head decides for a when d_k > 0, the ensemble when mean_k d_k > 0; a zero margin decides b.

    Args:
        margins: (N, K) d_k = r_k(a) - r_k(b) of item n under head k.

    Returns:
        (N,) in [0, 1): 0 where all heads agree with the ensemble.
    """
    ensemble = margins.mean(dim=-1, keepdim=True) > 0  # (N, 1)
    return ((margins > 0) != ensemble).to(margins.dtype).mean(dim=-1)


DISAGREEMENTS: dict[str, Callable[[Tensor], Tensor]] = {
    "std": margin_std,
    "vote": vote_disagreement,
}
"""An ensemble's disagreement (N,) on each item, from the heads' margins (N, K), by name."""


def most_uncertain(disagreement: Tensor, k: int) -> Tensor:
    """The indexes (k,) of the `k` items with the largest disagreement, largest first; equal
    disagreements in index order.

    Args:
        disagreement: (N,) one number per item, larger = less sure.
        k: how many to pick, 0 <= k <= N.
    """
    if not 0 <= k <= disagreement.numel():
        raise ValueError(f"cannot pick {k} of {disagreement.numel()} items")
    return torch.argsort(disagreement, descending=True, stable=True)[:k]
