"""Fitting the heads of a `VectorRewardModel` by full-batch L-BFGS on precomputed vectors.

With a frozen featurizer every response is one fixed vector, so the whole training set fits in one
batch and the Bradley-Terry objective of a linear head is convex (logistic regression): L-BFGS
finds its optimum in a few dozen iterations, deterministic and with no learning rate to tune.
L2 regularization (on weights, not biases) keeps the optimum finite on separable data.

    minimize  (1 / U) sum_units loss  +  l2 * |W|^2

Each head k of an ensemble sees its own bootstrap resample of the comparisons (Poisson(1) weights
per comparison, seeded), so the heads differ as the data does.

With ties (the Davidson model) and `learn_tie_nu`, the tie parameter of each head, log nu_k, is
fitted in the same L-BFGS run (without L2): the Davidson negative log-likelihood is jointly convex
in a linear head's weights and log nu, so this is still one convex problem, and head k's nu is the
maximum-likelihood one on head k's resample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rlhf.data.comparisons import Comparison
from rlhf.models.reward_scoring import Objective
from rlhf.models.vector_reward import VectorRewardModel
from rlhf.train.reward_objective import OBJECTIVES, RewardBatch, RewardLossConfig, index_batch

logger = logging.getLogger(__name__)

__all__ = ["HeadFit", "bootstrap_weights", "fit_heads", "vector_batch"]


@dataclass(frozen=True)
class HeadFit:
    """What a fit did: the final regularized training loss and the L-BFGS iterations run."""

    loss: float
    iterations: int
    metrics: dict[str, float]
    tie_nu: tuple[float, ...] | None = None
    """Davidson's nu per head (fitted with `learn_tie_nu`, else fixed); None without ties."""


def bootstrap_weights(comparisons: int, heads: int, *, seed: int) -> Tensor:
    """(C, K) weights: ones for one head; Poisson(1) counts per comparison and head otherwise."""
    if heads == 1:
        return torch.ones(comparisons, 1)
    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.ones(comparisons, heads), generator=generator)


def vector_batch(
    comparisons: Sequence[Comparison],
    features: Tensor,
    item_offsets: Sequence[int],
    loss: RewardLossConfig,
    weights: Tensor,
) -> RewardBatch:
    """One batch of all comparisons over precomputed `features` (M, D).

    `item_offsets[c]` is the row of comparison c's first response (its K responses are the K rows
    from there). `weights` (C, K) weighs each comparison per head.
    """
    indexes = index_batch(comparisons, item_offsets, loss)
    owner = _pair_owner(comparisons, loss)
    ranking_owner = [
        c
        for c, comp in enumerate(comparisons)
        if loss.ranking == "plackett-luce" and comp.order is not None
    ]
    return RewardBatch(
        inputs={"features": features},
        pair_weights=weights[owner],
        order_weights=weights[ranking_owner] if ranking_owner else None,
        **indexes,
    )


def _pair_owner(comparisons: Sequence[Comparison], loss: RewardLossConfig) -> list[int]:
    """For each pair `index_batch` emits, the comparison it belongs to (same order)."""
    owner: list[int] = []
    for c, comparison in enumerate(comparisons):
        if loss.ranking == "plackett-luce" and comparison.order is not None:
            continue
        owner.extend(c for pair in comparison.pairs if not (pair.tie and loss.ties == "drop"))
    return owner


def fit_heads(
    model: VectorRewardModel,
    batch: RewardBatch,
    loss: RewardLossConfig,
    *,
    use_ties: bool,
    l2: float,
    objective: Objective = "reward",
    max_iterations: int = 200,
    on_iteration: Callable[[int, float], None] | None = None,
) -> HeadFit:
    """Fit `model`'s heads on one full batch with L-BFGS (strong Wolfe line search), on the loss
    of `objective` (a reward's, or a cost's); with ties and `loss.learn_tie_nu`, each head's
    Davidson tie parameter too."""
    comparison_loss = OBJECTIVES[objective]
    parameters: list[Tensor] = [
        p for p in model.heads_module.parameters() if p.requires_grad and p.numel()
    ]
    log_nu = None
    if use_ties and loss.learn_tie_nu:
        heads = model.heads_module
        log_nu = torch.full((heads.count,), math.log(loss.tie_nu), device=heads.w1.device)  # (K,)
        log_nu.requires_grad_(True)
        parameters.append(log_nu)
    weights = [model.heads_module.w1] + (
        [model.heads_module.w2] if model.heads_module.hidden else []
    )
    units = _weighted_units(batch)
    optimizer = torch.optim.LBFGS(
        parameters,
        max_iter=max_iterations,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-7,
        tolerance_change=1e-10,
        history_size=20,
    )
    calls = 0

    def closure() -> Tensor:
        nonlocal calls
        optimizer.zero_grad()
        scores = model(**batch.inputs)
        total, _ = comparison_loss(scores, batch, loss, use_ties=use_ties, log_nu=log_nu)
        objective = total / units + l2 * sum((w**2).sum() for w in weights)
        objective.backward()  # type: ignore[no-untyped-call]
        calls += 1
        if on_iteration is not None:
            on_iteration(calls, float(objective.detach()))
        return objective

    model.train()
    optimizer.step(closure)  # type: ignore[no-untyped-call]
    model.train(False)
    with torch.no_grad():
        scores = model(**batch.inputs)
        total, metrics = comparison_loss(scores, batch, loss, use_ties=use_ties, log_nu=log_nu)
    state = optimizer.state[parameters[0]]  # L-BFGS keeps its counters with the first
    summary = {k: float(v / units) for k, v in metrics.items()}
    tie_nu = None
    if use_ties:
        count = model.heads_module.count
        fitted = [loss.tie_nu] * count if log_nu is None else log_nu.detach().exp().tolist()
        tie_nu = tuple(fitted)
        summary["reward/tie_nu"] = sum(tie_nu) / len(tie_nu)
    return HeadFit(float(total / units), int(state.get("n_iter", 0)), summary, tie_nu)


def _weighted_units(batch: RewardBatch) -> Tensor:
    """The weighted number of units the loss sums over, averaged over heads."""
    pairs = batch.better.new_ones(batch.better.shape, dtype=torch.float32)[:, None]
    count = (pairs * batch.pair_weights).sum() if batch.pair_weights is not None else pairs.sum()
    heads = batch.pair_weights.shape[-1] if batch.pair_weights is not None else 1
    count = count / heads
    if batch.orders.numel():
        stages = (batch.order_mask.sum(-1) - 1).clamp(min=0).float()[:, None]  # (G, 1)
        if batch.order_weights is not None:
            count = count + (stages * batch.order_weights).sum() / batch.order_weights.shape[-1]
        else:
            count = count + stages.sum()
    return count.clamp(min=1)
