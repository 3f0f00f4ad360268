"""Losses that turn human comparisons into a scalar reward: pure functions of reward tensors.

Every function takes the rewards a model gave to the responses of a comparison and returns
`(loss, metrics)`. `reduction` says how per-unit values are combined: `"mean"` (the average, as
papers write it), `"sum"` (what the training loop wants: it divides by the global number of units
itself, so gradient accumulation and data parallelism stay exact) or `"none"` (one value per unit).
Metrics are reduced the same way as the loss and are never `.item()`-ed here.

- `bradley_terry_loss`: one unit per pair (Bradley & Terry 1952; Ouyang et al. 2022).
- `davidson_loss`: pairs that may be ties (Davidson 1970), one unit per pair;
  `davidson_tie_probability` is its P(tie) (nu / (2 + nu) for equal rewards).
- `plackett_luce_loss`: full rankings of K responses (Plackett 1975; Luce 1959), one unit per
  choice stage, K - 1 per ranking; with K = 2 it equals `bradley_terry_loss`.
- `reward_centering_penalty`: keeps the rewards of a pair summing to about 0 (Eisenstein et al.
  2023).
- `cost_model_loss`: the cost model of Safe RLHF (Dai et al. 2023), one unit per (safer, unsafer)
  pair: the pairwise term plus a sign term per response that pins c = 0 to the safe/unsafe boundary.

A ranking of K responses costs K forward passes, not K(K-1)/2: score each response once, then pass
the scores of every implied (better, worse) pair to `bradley_terry_loss` by indexing, or the
ordered scores to `plackett_luce_loss`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional

Reduction = Literal["mean", "sum", "none"]
Metrics = dict[str, Tensor]

__all__ = [
    "Reduction",
    "bradley_terry_loss",
    "cost_model_loss",
    "davidson_loss",
    "davidson_tie_probability",
    "plackett_luce_loss",
    "reward_centering_penalty",
]


def _reduce(values: Tensor, reduction: Reduction, units: Tensor | None = None) -> Tensor:
    """Sum, mean (over `units` when given, else over elements) or identity."""
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    count = values.new_tensor(values.numel()) if units is None else units
    return total / count.clamp(min=1)


def bradley_terry_loss(
    chosen_rewards: Tensor,
    rejected_rewards: Tensor,
    *,
    margin: Tensor | None = None,
    label_smoothing: float | Tensor = 0.0,
    reduction: Reduction = "mean",
) -> tuple[Tensor, Metrics]:
    """The Bradley-Terry negative log-likelihood of pairwise preferences.

        P(chosen > rejected) = sigmoid(r_c - r_r - m)
        loss = -(1 - eps) * log sigmoid(r_c - r_r - m) - eps * log sigmoid(-(r_c - r_r - m))

    Bradley & Terry 1952; as a reward-model loss, Ouyang et al. 2022 (InstructGPT, eq. 1). The
    margin `m` (Touvron et al. 2023, Llama 2, eq. 2) asks a strongly preferred response to win by at
    least `m`; label smoothing `eps` (a conservative target, as in cDPO) treats a fraction `eps` of
    labels as flipped. With `m = 0` and `eps = 0` this is TRL's `RewardTrainer` loss.

    Args:
        chosen_rewards: (P,) rewards of the preferred responses.
        rejected_rewards: (P,) rewards of the other responses.
        margin: (P,) per-pair margins, or None for 0.
        label_smoothing: `eps` in [0, 0.5), or (P,) per-pair values in [0, 1]: soft labels, where
            1 - eps is the probability that the chosen response is better (an aggregated
            label's confidence); the loss is then the cross-entropy to that target.
        reduction: "mean" over pairs, "sum", or "none" for (P,) values.

    Returns:
        The loss, and metrics reduced the same way: `reward/accuracy` (1 when r_c > r_r, 0.5 when
        equal), `reward/margin` (r_c - r_r), `reward/chosen`, `reward/rejected`.
    """
    if isinstance(label_smoothing, Tensor):
        if bool(((label_smoothing < 0) | (label_smoothing > 1)).any()):
            raise ValueError("per-pair label_smoothing must lie in [0, 1]")
    elif not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5), got {label_smoothing}")
    differences = chosen_rewards - rejected_rewards  # (P,)
    logits = differences if margin is None else differences - margin
    losses = -(1.0 - label_smoothing) * functional.logsigmoid(
        logits
    ) - label_smoothing * functional.logsigmoid(-logits)
    metrics = _pair_metrics(chosen_rewards, rejected_rewards)
    return _reduce(losses, reduction), {k: _reduce(v, reduction) for k, v in metrics.items()}


def _pair_metrics(chosen_rewards: Tensor, rejected_rewards: Tensor) -> Metrics:
    """Per-pair accuracy (ties of score count one half), reward difference and the two rewards."""
    with torch.no_grad():
        differences = chosen_rewards - rejected_rewards
        correct = (differences > 0).to(differences.dtype) + 0.5 * (differences == 0)
        return {
            "reward/accuracy": correct,
            "reward/margin": differences,
            "reward/chosen": chosen_rewards.detach(),
            "reward/rejected": rejected_rewards.detach(),
        }


def davidson_loss(
    chosen_rewards: Tensor,
    rejected_rewards: Tensor,
    tie: Tensor,
    *,
    log_nu: float | Tensor = 0.0,
    margin: Tensor | None = None,
    reduction: Reduction = "mean",
) -> tuple[Tensor, Metrics]:
    """The negative log-likelihood of the Davidson (1970) model, which gives ties a probability.

    With strengths pi = exp(r) and tie parameter nu >= 0 (Davidson 1970, eq. 2.1):

        P(c > r) = pi_c / (pi_c + pi_r + nu sqrt(pi_c pi_r)) = exp(d/2) / (exp(d/2) + exp(-d/2) + nu)
        P(tie)   = nu   / (exp(d/2) + exp(-d/2) + nu),        d = r_c - r_r - m

    so a tied pair pulls the two rewards together instead of being dropped. With nu -> 0 (log_nu ->
    -inf) decisive pairs get exactly `bradley_terry_loss`. The margin applies to decisive pairs only.

    nu can be fitted with the rewards by maximum likelihood; on the log scale the loss of a pair
    has the gradient

        d loss / d log_nu = P(tie) - 1[tie]

    so at the optimum the model's expected number of ties equals the observed one. The joint
    negative log-likelihood is convex in (d, log_nu): each term is a log-sum-exp of affine
    functions minus an affine one.

    Args:
        chosen_rewards: (P,) rewards of the first response (the preferred one when not a tie), or
            (P, K) for K heads.
        rejected_rewards: the rewards of the second response, shaped as `chosen_rewards`.
        tie: (P,) bool, True where the pair was judged a tie (or (P, 1) beside (P, K) rewards).
        log_nu: log of the tie parameter nu: a float, or a tensor (learnable) that broadcasts
            against the rewards: a scalar, or (K,) for one nu per head.
        margin: (P,) margins for decisive pairs, or None.
        reduction: "mean" over pairs, "sum", or "none".

    Returns:
        The loss, and metrics reduced the same way: `reward/accuracy` and `reward/margin` over
        decisive pairs only (tied pairs contribute 0; divide by `reward/decisive`),
        `reward/decisive` (1 per decisive pair) and `reward/tie_probability` (P(tie) per pair).
    """
    tie = tie.to(torch.bool)
    differences = chosen_rewards - rejected_rewards  # (P,)
    d = differences if margin is None else torch.where(tie, differences, differences - margin)
    log_nu_t = torch.as_tensor(log_nu, dtype=d.dtype, device=d.device).expand_as(d)
    log_denominator = torch.logsumexp(torch.stack([d / 2, -d / 2, log_nu_t]), dim=0)  # (P,)
    log_likelihood = torch.where(tie, log_nu_t, d / 2) - log_denominator
    decisive = (~tie).to(d.dtype)
    with torch.no_grad():
        pair = _pair_metrics(chosen_rewards, rejected_rewards)
        metrics = {
            "reward/accuracy": pair["reward/accuracy"] * decisive,
            "reward/margin": pair["reward/margin"] * decisive,
            "reward/decisive": decisive,
            "reward/tie_probability": (log_nu_t - log_denominator).exp(),
        }
    reduced = {k: _reduce(v, reduction) for k, v in metrics.items()}
    return _reduce(-log_likelihood, reduction), reduced


def davidson_tie_probability(differences: Tensor, log_nu: float | Tensor) -> Tensor:
    """P(tie) of the Davidson (1970) model for reward differences d (any shape):

        P(tie | d) = nu / (exp(d/2) + exp(-d/2) + nu),      P(tie | 0) = nu / (2 + nu)

    `log_nu` is a float or a tensor that broadcasts to the shape of `differences` (e.g. (K,) per
    head beside (N, K) differences).
    """
    d = differences
    log_nu_t = torch.as_tensor(log_nu, dtype=d.dtype, device=d.device).expand_as(d)
    return (log_nu_t - torch.logsumexp(torch.stack([d / 2, -d / 2, log_nu_t]), dim=0)).exp()


def plackett_luce_loss(
    rewards: Tensor, mask: Tensor | None = None, *, reduction: Reduction = "mean"
) -> tuple[Tensor, Metrics]:
    """The Plackett-Luce negative log-likelihood of rankings, best response first.

    A ranking is a sequence of choices: the best of all K, then the best of the K - 1 left, ...
    (Plackett 1975; Luce 1959; for reward models, Zhu et al. 2023, "Principled RLHF", eq. 3.2):

        log P(order) = sum_{k=1}^{K-1} [ r_k - log sum_{j=k}^{K} exp(r_j) ]

    The loss has one unit per choice stage (K - 1 per ranking), so a ranking of two responses is
    exactly one Bradley-Terry pair.

    Args:
        rewards: (G, K) rewards of each ranking's responses, ordered best first.
        mask: (G, K) bool, True for real responses; the real ones of a row must come first (rows
            of different lengths padded at the end). None means all are real.
        reduction: "mean" over choice stages, "sum", or "none" for (G,) per-ranking sums.

    Returns:
        The loss, and metrics reduced the same way: `reward/accuracy`, per stage 1 when the
        response chosen at that stage has a higher reward than every response left after it.
    """
    if mask is None:
        mask = torch.ones_like(rewards, dtype=torch.bool)
    mask = mask.to(torch.bool)
    masked = rewards.masked_fill(~mask, -math.inf)  # (G, K)
    # log sum_{j >= k} exp(r_j): a cumulative logsumexp from the right
    tail_logsumexp = torch.logcumsumexp(masked.flip(-1), dim=-1).flip(-1)  # (G, K)
    lengths = mask.sum(-1)  # (G,)
    positions = torch.arange(rewards.shape[-1], device=rewards.device)
    is_stage = positions[None, :] < (lengths[:, None] - 1)  # every real item but the last
    stage_losses = torch.where(is_stage, tail_logsumexp - rewards, torch.zeros_like(rewards))
    stages = is_stage.sum(-1).to(rewards.dtype)  # (G,)
    with torch.no_grad():
        tail_max = masked.flip(-1).cummax(-1).values.flip(-1)  # max_{j >= k} r_j, (G, K)
        after = torch.cat([tail_max[:, 1:], torch.full_like(tail_max[:, :1], -math.inf)], -1)
        correct = ((rewards > after) & is_stage).to(rewards.dtype).sum(-1)  # (G,)
    total_stages = stages.sum()
    loss = _reduce(stage_losses.sum(-1), reduction, units=total_stages)
    return loss, {"reward/accuracy": _reduce(correct, reduction, units=total_stages)}


def reward_centering_penalty(
    chosen_rewards: Tensor, rejected_rewards: Tensor, *, reduction: Reduction = "mean"
) -> Tensor:
    """The auxiliary loss (r_c + r_r)^2 that keeps rewards centered at zero.

    Eisenstein et al. 2023, "Helping or Herding? Reward Model Ensembles Mitigate but do not
    Eliminate Reward Hacking", section 3: the Bradley-Terry loss only sees differences, so the
    level of the rewards drifts; the penalty eta * (r(x, y+) + r(x, y-))^2 per pair pins the mean
    (the paper uses eta = 0.01; TRL calls it `center_rewards_coefficient`). The caller multiplies
    by eta.

    Args:
        chosen_rewards: (P,) rewards of the preferred responses.
        rejected_rewards: (P,) rewards of the other responses.
        reduction: "mean" over pairs, "sum", or "none".
    """
    return _reduce((chosen_rewards + rejected_rewards) ** 2, reduction)


def cost_model_loss(
    unsafer_costs: Tensor,
    safer_costs: Tensor,
    unsafer_sign: Tensor,
    safer_sign: Tensor,
    *,
    reduction: Reduction = "mean",
) -> tuple[Tensor, Metrics]:
    """The negative log-likelihood of the Safe RLHF cost model: an order and a sign per response.

        loss = -log sigmoid(c_u - c_s) - log sigmoid(s_u c_u) - log sigmoid(s_s c_s)

    Dai et al. 2023, "Safe RLHF: Safe Reinforcement Learning from Human Feedback", eq. 6: c_u and c_s
    are the costs of the less safe and the safer response of a pair, s = +1 for a response labelled
    unsafe and -1 for one labelled safe. The first term is Bradley-Terry on costs (the unsafer
    response costs more); the sign terms are a logistic classifier on each response, so the cost's
    zero is the safe/unsafe boundary (c > 0: unsafe), which the cost limit of safe PPO relies on.
    A sign of 0 (the response's label is unknown) drops its term: log sigmoid(0) is a constant.

    Args:
        unsafer_costs: (P,) costs of the less safe response of each pair.
        safer_costs: (P,) costs of the safer response.
        unsafer_sign: (P,) +1 (unsafe), -1 (safe) or 0 (unknown) for the less safe response.
        safer_sign: (P,) the same for the safer response.
        reduction: "mean" over pairs, "sum", or "none" for (P,) values.

    Returns:
        The loss, and metrics reduced the same way: `cost/accuracy` (1 when c_u > c_s, 0.5 when
        equal), `cost/margin` (c_u - c_s), `cost/sign_correct` (labelled responses of the pair on
        the right side of 0, a cost of exactly 0 counting one half) and `cost/labelled` (0-2).
    """
    unsafer_sign = unsafer_sign.to(unsafer_costs.dtype)
    safer_sign = safer_sign.to(safer_costs.dtype)
    pair_terms = -functional.logsigmoid(unsafer_costs - safer_costs)  # (P,)
    sign_terms = _sign_term(unsafer_costs, unsafer_sign) + _sign_term(safer_costs, safer_sign)
    with torch.no_grad():
        order = _pair_metrics(unsafer_costs, safer_costs)
        signs = torch.stack([unsafer_sign, safer_sign])  # (2, P)
        products = signs * torch.stack([unsafer_costs, safer_costs]).detach()
        correct = ((products > 0).to(products.dtype) + 0.5 * ((products == 0) & (signs != 0))).sum(
            0
        )
        metrics = {
            "cost/accuracy": order["reward/accuracy"],
            "cost/margin": order["reward/margin"],
            "cost/sign_correct": correct,
            "cost/labelled": (signs != 0).to(products.dtype).sum(0),
        }
    losses = pair_terms + sign_terms
    return _reduce(losses, reduction), {k: _reduce(v, reduction) for k, v in metrics.items()}


def _sign_term(costs: Tensor, sign: Tensor) -> Tensor:
    """-log sigmoid(s c) where the label is known (s != 0), else 0."""
    known = (sign != 0).to(costs.dtype)
    return -known * functional.logsigmoid(sign * costs)
