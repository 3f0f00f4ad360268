"""The reward-model objective: comparisons in, one forward pass over their responses, a loss out.

A batch holds the M responses of its comparisons (as token rows, `rlhf.train.reward_collate`, or
as feature vectors) and, by index into them, the pairs and rankings to learn from; the model scores
each response once (a ranking of K responses costs K forward passes, not K(K-1)/2). The loss is a sum over units, as the training loop wants:

- a pair is one unit: Bradley-Terry (`bradley_terry_loss`), or Davidson (`davidson_loss`) when the
  data has ties and `ties = "davidson"`, with an optional margin from the annotated strength;
  Davidson's tie parameter nu is fitted with the model by maximum likelihood (`learn_tie_nu`, on
  the log scale: one log nu per head, `WithTieParameter` beside a transformer) or fixed;
- with `ranking = "plackett-luce"`, a strict ranking of K responses is K - 1 units of
  `plackett_luce_loss` (for K = 2 the same as one Bradley-Terry pair);
- the centering penalty eta (r_a + r_b)^2 (Eisenstein et al. 2023) is added per unit, on each pair
  and on each adjacent pair of a ranking.

Rewards may have K heads (M, K); the loss is the mean over heads, each weighted per unit (bootstrap
weights give each head of an ensemble its own resample of the data).

A cost model (Safe RLHF, `objective = "cost"`) reads the same batch with the model's outputs as
costs: each pair's `better` response is the safer one, and `cost_model_loss` adds to the pairwise
term a sign term per labelled response (`RewardBatch.sign`). `OBJECTIVES` maps the objective to its
loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rlhf.data.comparisons import Comparison
from rlhf.data.records import MAX_STRENGTH, MIN_STRENGTH
from rlhf.data.safety import signs_of
from rlhf.errors import UserError
from rlhf.models.reward_scoring import Objective
from rlhf.ops.reward_losses import (
    bradley_terry_loss,
    cost_model_loss,
    davidson_loss,
    plackett_luce_loss,
    reward_centering_penalty,
)

__all__ = [
    "OBJECTIVES",
    "RewardBatch",
    "RewardLossConfig",
    "RewardObjective",
    "WithTieParameter",
    "comparison_loss",
    "cost_loss",
    "index_batch",
]


@dataclass(frozen=True, kw_only=True)
class RewardLossConfig:
    """How judgments become a loss."""

    ties: Literal["davidson", "drop"] = "davidson"
    """Tied pairs: learn from them with the Davidson (1970) tie model, or leave them out."""
    tie_nu: float = 1.0
    """Davidson's tie parameter nu > 0, where learning starts (or its value with
    --no-loss.learn-tie-nu): the larger, the likelier ties; P(tie) = nu / (2 + nu) between equal
    rewards."""
    learn_tie_nu: bool = True
    """Fit nu with the reward model by maximum likelihood, as log nu (so nu > 0), one per head or
    ensemble member; only when the data has ties and --loss.ties is davidson. The fitted nu is
    logged (train/reward/tie_nu) and saved in the model's card."""
    tie_nu_lr: float = 1e-2
    """For --kind transformer: the peak learning rate of log nu (AdamW, on optim.lr's schedule);
    one well-conditioned scalar wants far more than a network's rate. Embedding and features
    models fit nu by L-BFGS, which has no rate."""
    ranking: Literal["pairs", "plackett-luce"] = "pairs"
    """Rankings of K > 2: all implied pairs (as InstructGPT), or the Plackett-Luce likelihood."""
    margin: float = 0.0
    """Margin for the strongest preference (strength 4), scaled linearly down to 0 at strength 1
    (Llama 2); 0 turns margins off."""
    label_smoothing: float = 0.0
    """Bradley-Terry label smoothing in [0, 0.5): the assumed share of flipped labels."""
    soft_labels: bool = True
    """Learn a pair's `confidence` (written by `rlhf quality aggregate`) as the probability that
    its chosen response is better, instead of 1 (Bradley-Terry pairs; ties use Davidson)."""
    center: float = 0.0
    """Coefficient eta of the centering penalty eta (r_a + r_b)^2; Eisenstein et al. use 0.01."""

    def __post_init__(self) -> None:
        if self.tie_nu <= 0:
            raise ValueError(f"loss.tie_nu must be > 0, got {self.tie_nu}; 1.0 is a good start")
        if self.tie_nu_lr <= 0:
            raise ValueError(f"loss.tie_nu_lr must be > 0, got {self.tie_nu_lr}; try 1e-2")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(
                f"loss.label_smoothing must lie in [0, 0.5), got {self.label_smoothing}"
            )
        if self.margin < 0 or self.center < 0:
            raise ValueError("loss.margin and loss.center must be >= 0")

    def smoothing_of(self, confidence: float | None) -> float:
        """A pair's label smoothing: 1 - its soft label with `soft_labels`, else the global one."""
        if self.soft_labels and confidence is not None:
            return 1.0 - confidence
        return self.label_smoothing

    def margin_of(self, strength: int | None) -> float:
        """The margin for a preference of `strength` (0 when unknown)."""
        if strength is None or not self.margin:
            return 0.0
        return self.margin * (strength - MIN_STRENGTH) / (MAX_STRENGTH - MIN_STRENGTH)


@dataclass(frozen=True)
class RewardBatch:
    """Model inputs for M responses, and the comparisons among them by index."""

    inputs: dict[str, Any]
    """What the model's forward takes to give rewards (M, K): token rows, chunks of them
    (`rlhf.train.reward_collate`), or features (M, D)."""
    better: Tensor  # (P,) long, into the M responses
    worse: Tensor  # (P,) long
    tie: Tensor  # (P,) bool
    margin: Tensor  # (P,) float
    orders: Tensor  # (G, L) long, strict rankings best first, padded with 0
    order_mask: Tensor  # (G, L) bool, True on real entries
    pair_weights: Tensor | None = None  # (P, K) per-head weights, None for 1
    order_weights: Tensor | None = None  # (G, K)
    sign: Tensor | None = None  # (M,) float: +1 unsafe, -1 safe, 0 unknown (cost models)
    smoothing: Tensor | None = None  # (P,) float: per-pair label smoothing (1 - soft label)

    @property
    def units(self) -> int:
        stages = (self.order_mask.sum(-1) - 1).clamp(min=0).sum()
        return int(self.better.numel() + int(stages))


def index_batch(
    comparisons: Sequence[Comparison], offsets: Sequence[int], loss: RewardLossConfig
) -> dict[str, Tensor]:
    """Pair and ranking index tensors for comparisons whose responses start at `offsets`."""
    better: list[int] = []
    worse: list[int] = []
    tie: list[bool] = []
    margin: list[float] = []
    smoothing: list[float] = []
    orders: list[list[int]] = []
    sign: list[float] = []
    for comparison, base in zip(comparisons, offsets, strict=True):
        sign += [0.0] * (base - len(sign))
        sign[base:] = signs_of(comparison.safe or (None,) * len(comparison.responses))
        if loss.ranking == "plackett-luce" and comparison.order is not None:
            orders.append([base + i for i in comparison.order])
            continue
        for pair in comparison.pairs:
            if pair.tie and loss.ties == "drop":
                continue
            better.append(base + pair.better)
            worse.append(base + pair.worse)
            tie.append(pair.tie)
            margin.append(loss.margin_of(pair.strength))
            smoothing.append(loss.smoothing_of(pair.confidence))
    width = max((len(o) for o in orders), default=0)
    order_rows = torch.zeros((len(orders), width), dtype=torch.long)
    order_mask = torch.zeros((len(orders), width), dtype=torch.bool)
    for g, order in enumerate(orders):
        order_rows[g, : len(order)] = torch.tensor(order)
        order_mask[g, : len(order)] = True
    return {
        "better": torch.tensor(better, dtype=torch.long),
        "worse": torch.tensor(worse, dtype=torch.long),
        "tie": torch.tensor(tie, dtype=torch.bool),
        "margin": torch.tensor(margin, dtype=torch.float32),
        "orders": order_rows,
        "order_mask": order_mask,
        "sign": torch.tensor(sign, dtype=torch.float32),
        "smoothing": torch.tensor(smoothing, dtype=torch.float32),
    }


def _weighted_sum(values: Tensor, weights: Tensor | None) -> Tensor:
    """Sum over units of `values` (U, K) weighted per unit and head, averaged over heads."""
    if weights is not None:
        values = values * weights
    return values.sum() / values.shape[-1]


def comparison_loss(
    rewards: Tensor,
    batch: RewardBatch,
    loss: RewardLossConfig,
    *,
    use_ties: bool,
    log_nu: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss and metrics, summed over the batch's units, of rewards (M, K) for `batch`.

    `use_ties` selects the Davidson model for every pair (the data has ties); otherwise
    Bradley-Terry, and tied pairs (if any reach here) count as decisive. `log_nu` (K,) is a
    learned tie parameter per head; None uses the fixed `loss.tie_nu`.
    """
    chosen, rejected = rewards[batch.better], rewards[batch.worse]  # (P, K)
    margin = batch.margin[:, None].to(rewards.dtype)
    if use_ties:
        pair_losses, pair_metrics = davidson_loss(
            chosen,
            rejected,
            batch.tie[:, None],
            log_nu=math.log(loss.tie_nu) if log_nu is None else log_nu,
            margin=margin,
            reduction="none",
        )
    else:
        smoothing = batch.smoothing[:, None] if batch.smoothing is not None else 0.0
        pair_losses, pair_metrics = bradley_terry_loss(
            chosen, rejected, margin=margin, label_smoothing=smoothing, reduction="none"
        )
    total = _weighted_sum(pair_losses, batch.pair_weights)
    metrics = {
        "loss/pairs": total.detach(),
        "reward/accuracy": _weighted_sum(pair_metrics["reward/accuracy"], batch.pair_weights),
        "reward/margin": _weighted_sum(pair_metrics["reward/margin"], batch.pair_weights),
    }
    if loss.center:
        penalty = _weighted_sum(
            reward_centering_penalty(chosen, rejected, reduction="none"), batch.pair_weights
        )
        total = total + loss.center * penalty
        metrics["loss/centering"] = penalty.detach()
    if batch.orders.numel():
        total = total + _ranking_loss(rewards, batch, loss, metrics)
    return total, metrics


def cost_loss(
    costs: Tensor,
    batch: RewardBatch,
    loss: RewardLossConfig,
    *,
    use_ties: bool,
    log_nu: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Safe RLHF cost-model loss and metrics, summed over pairs, of costs (M, K) for `batch`.

    A pair's `better` response is the safer one; its `worse` the less safe. Settings that do not
    apply to costs (ties, so `use_ties` and `log_nu`, rankings, margins, smoothing, centering) are
    refused by the config and the data checks.
    """
    if batch.sign is None:
        raise ValueError("a cost batch needs RewardBatch.sign (per-response safety labels)")
    sign = batch.sign.to(costs.dtype)[:, None]  # (M, 1)
    losses, metrics = cost_model_loss(
        costs[batch.worse],  # (P, K)
        costs[batch.better],
        sign[batch.worse].expand(-1, costs.shape[-1]),
        sign[batch.better].expand(-1, costs.shape[-1]),
        reduction="none",
    )
    total = _weighted_sum(losses, batch.pair_weights)
    # per pair, the share of its labelled responses on the right side of 0 (the loop divides the
    # sum by the number of pairs: the sign accuracy when every response is labelled)
    sign_share = metrics["cost/sign_correct"] / metrics["cost/labelled"].clamp(min=1)
    weights = batch.pair_weights
    return total, {
        "loss/cost": total.detach(),
        "cost/accuracy": _weighted_sum(metrics["cost/accuracy"], weights),
        "cost/margin": _weighted_sum(metrics["cost/margin"], weights),
        "cost/sign_accuracy": _weighted_sum(sign_share, weights),
    }


LossFunction = Callable[..., tuple[Tensor, dict[str, Tensor]]]

OBJECTIVES: dict[Objective, LossFunction] = {"reward": comparison_loss, "cost": cost_loss}
"""The loss of each objective: `f(scores (M, K), batch, loss_config, use_ties=..., log_nu=...)`."""


def _ranking_loss(
    rewards: Tensor, batch: RewardBatch, loss: RewardLossConfig, metrics: dict[str, Tensor]
) -> Tensor:
    """Plackett-Luce stage losses (and centering on adjacent pairs), summed; adds to metrics."""
    heads = rewards.shape[-1]
    ordered = rewards[batch.orders].permute(2, 0, 1)  # (K, G, L)
    mask = batch.order_mask[None].expand_as(ordered)
    per_ranking, pl_metrics = plackett_luce_loss(
        ordered.reshape(-1, ordered.shape[-1]), mask.reshape(-1, mask.shape[-1]), reduction="none"
    )
    weights = batch.order_weights
    total = _weighted_sum(per_ranking.reshape(heads, -1).T, weights)
    correct = _weighted_sum(pl_metrics["reward/accuracy"].reshape(heads, -1).T, weights)
    metrics["loss/plackett_luce"] = total.detach()
    metrics["reward/accuracy"] = metrics["reward/accuracy"] + correct
    if loss.center:
        adjacent = batch.order_mask[:, 1:][None]  # (1, G, L-1): stage pairs (k, k+1)
        squares = (ordered[..., :-1] + ordered[..., 1:]) ** 2 * adjacent
        penalty = _weighted_sum(squares.sum(-1).T, weights)
        metrics["loss/centering"] = metrics.get("loss/centering", penalty.new_zeros(())) + penalty
        total = total + loss.center * penalty
    return total


class WithTieParameter(nn.Module):
    """A reward model and Davidson's tie parameter, trained together by `rlhf.train.fit`.

    The parameter `log_nu` (K,) sits beside the model, so the loop's optimizer and checkpoints
    hold it (with its AdamW state) as they hold the model's weights; `peak_learning_rates` gives
    it its own rate (`rlhf.train.optimizer.build_optimizer`). `forward` is the model's.
    """

    def __init__(self, model: nn.Module, *, nu: float, lr: float, heads: int = 1) -> None:
        super().__init__()
        self.model = model
        self.log_nu = nn.Parameter(torch.full((heads,), math.log(nu)))  # (K,)
        self.lr = lr

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def peak_learning_rates(self) -> dict[str, float]:
        """The parameters that do not train at optim.lr, by name."""
        return {"log_nu": self.lr}

    @property
    def nu(self) -> tuple[float, ...]:
        """nu per head, as floats."""
        values: list[float] = self.log_nu.detach().exp().tolist()
        return tuple(values)


@dataclass(frozen=True)
class RewardObjective:
    """The `Objective` of `rlhf.train.fit` for reward models whose forward returns (M, K)."""

    loss_config: RewardLossConfig
    use_ties: bool
    objective: Objective = "reward"
    log_nu: Tensor | None = None
    """The learned tie parameter (K,) (`WithTieParameter.log_nu`); None keeps loss.tie_nu."""

    def units(self, batch: RewardBatch) -> int:
        return batch.units

    def loss(self, model: nn.Module, batch: RewardBatch) -> tuple[Tensor, dict[str, Tensor]]:
        scores = model(**batch.inputs)  # (M, K) rewards, or costs
        total, metrics = OBJECTIVES[self.objective](
            scores, batch, self.loss_config, use_ties=self.use_ties, log_nu=self.log_nu
        )
        if self.use_ties:
            nu = self.loss_config.tie_nu if self.log_nu is None else self.log_nu.detach().exp()
            # the loop divides each metric by the step's units: nu is the same in every
            # micro-batch of a step, so nu x units logs nu itself
            nu_t = torch.as_tensor(nu, dtype=torch.float32, device=scores.device)
            metrics["reward/tie_nu"] = nu_t.mean() * self.units(batch)
        return total, metrics


def check_loss_for_data(loss: RewardLossConfig, comparisons: Sequence[Comparison]) -> bool:
    """Whether the Davidson tie model is in use for this data; refuses settings that clash."""
    has_ties = any(p.tie for c in comparisons for p in c.pairs)
    use_ties = has_ties and loss.ties == "davidson"
    if use_ties and loss.label_smoothing:
        raise UserError(
            "the data has ties, so the Davidson tie model is used, and label smoothing applies to "
            "the Bradley-Terry loss only: set --loss.label-smoothing 0, or --loss.ties drop"
        )
    return use_ties
