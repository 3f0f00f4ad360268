"""The DPO family: losses on sequence log-probabilities of preference pairs (chosen y_w, rejected y_l).

Every loss is a pure function of (B,) tensors returning `(loss, metrics)`: `loss` is the mean over
the B pairs, `metrics` holds detached per-pair (B,) tensors, for the trainer to sum or average:

    rewards/chosen    implicit reward of y_w
    rewards/rejected  implicit reward of y_l
    rewards/margin    rewards/chosen - rewards/rejected
    rewards/accuracy  1.0 where rewards/chosen > rewards/rejected, else 0.0

For the losses with a reference policy the implicit reward is beta * (log pi(y|x) - log pi_ref(y|x))
on *summed* log-probabilities, whatever the loss (so curves compare across losses, as in TRL);
SimPO's is its own, beta * log pi(y|x) / |y|.

Input convention: `*_logps` are log-probabilities summed over the completion tokens
(`sequence_logprobs(..., average=False)`), `*_lengths` their numbers of tokens
(`completion_lengths`). The length-normalized losses (IPO, SimPO, the RPO term) divide by the
lengths themselves; to feed them averages already, pass lengths of 1.

Notation: h = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)), the difference
of log-ratios; sigma is the logistic function.

`PREFERENCE_LOSSES` maps a loss name to an adapter `(PreferenceLogps, LossHyper) -> (loss,
metrics)`, so a trainer picks a loss by name; `REFERENCE_FREE` names the losses that need no
reference model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

__all__ = [
    "PREFERENCE_LOSSES",
    "REFERENCE_FREE",
    "LossHyper",
    "Metrics",
    "PreferenceLogps",
    "PreferenceLoss",
    "dpo_loss",
    "hinge_loss",
    "ipo_loss",
    "robust_dpo_loss",
    "rpo_nll_term",
    "simpo_loss",
]

Metrics = dict[str, Tensor]
"""Per-pair (B,) detached tensors named `rewards/chosen`, `rewards/rejected`, `rewards/margin`,
`rewards/accuracy`."""


def _reward_metrics(chosen_rewards: Tensor, rejected_rewards: Tensor) -> Metrics:
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    return {
        "rewards/chosen": chosen_rewards,
        "rewards/rejected": rejected_rewards,
        "rewards/margin": chosen_rewards - rejected_rewards,
        "rewards/accuracy": (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype),
    }


def _log_ratios(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
) -> tuple[Tensor, Tensor]:
    """(log pi(y_w) - log pi_ref(y_w), log pi(y_l) - log pi_ref(y_l)), each (B,)."""
    return policy_chosen_logps - ref_chosen_logps, policy_rejected_logps - ref_rejected_logps


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Metrics]:
    """Sigmoid DPO (Rafailov et al. 2023, "Direct Preference Optimization", Eq. 7):

        L = -(1 - eps) log sigma(beta h) - eps log sigma(-beta h),    eps = label_smoothing

    eps = 0 is DPO; eps > 0 is conservative DPO (cDPO, Mitchell 2023, "A note on DPO with noisy
    preferences"): the cross-entropy against labels that are flipped with probability eps. Its
    optimum keeps a finite margin (sigma(beta h) -> 1 - eps) instead of pushing h to infinity.

    Shapes: the four log-probabilities are (B,), summed over completion tokens; loss is a scalar.
    """
    chosen_ratios, rejected_ratios = _log_ratios(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    logits = beta * (chosen_ratios - rejected_ratios)  # (B,)
    losses = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    return losses.mean(), _reward_metrics(beta * chosen_ratios, beta * rejected_ratios)


def robust_dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Metrics]:
    """Robust DPO, rDPO (Chowdhury et al. 2024, "Provably Robust DPO"):

        L = [(1 - eps) (-log sigma(beta h)) - eps (-log sigma(-beta h))] / (1 - 2 eps)

    with eps = label_smoothing in [0, 0.5), the rate at which labels are flipped. Unlike cDPO this
    is an *unbiased* estimate of the clean DPO loss under flips: its expectation over noisy labels
    equals the DPO loss on the true labels. eps = 0 is DPO.

    Shapes: the four log-probabilities are (B,), summed over completion tokens; loss is a scalar.
    """
    chosen_ratios, rejected_ratios = _log_ratios(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    logits = beta * (chosen_ratios - rejected_ratios)  # (B,)
    eps = label_smoothing
    losses = (-(1 - eps) * F.logsigmoid(logits) + eps * F.logsigmoid(-logits)) / (1 - 2 * eps)
    return losses.mean(), _reward_metrics(beta * chosen_ratios, beta * rejected_ratios)


def hinge_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
) -> tuple[Tensor, Metrics]:
    """Hinge loss of SLiC (Zhao et al. 2023, "SLiC-HF"), on log-ratios as in RSO:

        L = max(0, 1 - beta h)

    SLiC's calibration loss is max(0, delta - log pi(y_w) + log pi(y_l)); with the reference
    log-ratios of Liu et al. 2023 ("Statistical Rejection Sampling", RSO) and 1/beta = delta the
    margin, this is beta times it. Pairs with h >= 1/beta give no gradient.

    Shapes: the four log-probabilities are (B,), summed over completion tokens; loss is a scalar.
    """
    chosen_ratios, rejected_ratios = _log_ratios(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    losses = torch.relu(1 - beta * (chosen_ratios - rejected_ratios))  # (B,)
    return losses.mean(), _reward_metrics(beta * chosen_ratios, beta * rejected_ratios)


def ipo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 0.1,
) -> tuple[Tensor, Metrics]:
    """IPO (Azar et al. 2023, "A General Theoretical Paradigm...", Eq. 17), length-normalized:

        L = (h_avg - 1 / (2 beta))^2,
        h_avg = (log pi(y_w) - log pi_ref(y_w)) / |y_w| - (log pi(y_l) - log pi_ref(y_l)) / |y_l|

    beta is the paper's tau. The paper writes h on whole sequences; summed log-ratios make the
    squared loss grow with length, so, as TRL does (confirmed with the IPO authors), the
    log-ratios are averaged over tokens. Inputs are *summed* log-probabilities and the lengths;
    pass lengths of 1 for sequence-level IPO. Lengths below 1 count as 1.

    Shapes: log-probabilities and lengths are (B,); loss is a scalar. Metrics are the DPO
    implicit rewards on summed log-ratios.
    """
    chosen_ratios, rejected_ratios = _log_ratios(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    chosen_avg = chosen_ratios / chosen_lengths.clamp(min=1)  # (B,)
    rejected_avg = rejected_ratios / rejected_lengths.clamp(min=1)  # (B,)
    losses = (chosen_avg - rejected_avg - 1 / (2 * beta)) ** 2
    return losses.mean(), _reward_metrics(beta * chosen_ratios, beta * rejected_ratios)


def simpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 2.0,
    gamma: float = 0.5,
) -> tuple[Tensor, Metrics]:
    """SimPO (Meng et al. 2024, "SimPO: Simple Preference Optimization..."):

        L = -log sigma(beta log pi(y_w) / |y_w| - beta log pi(y_l) / |y_l| - gamma)

    Reference-free: the implicit reward is the length-normalized log-probability
    beta log pi(y) / |y|, and gamma > 0 is the target reward margin. The paper uses beta in
    [2, 2.5] and gamma / beta in [0.3, 0.8]. Inputs are *summed* log-probabilities and the
    lengths (lengths below 1 count as 1).

    Shapes: log-probabilities and lengths are (B,); loss is a scalar.
    """
    chosen_rewards = beta * policy_chosen_logps / chosen_lengths.clamp(min=1)  # (B,)
    rejected_rewards = beta * policy_rejected_logps / rejected_lengths.clamp(min=1)  # (B,)
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards - gamma)
    return losses.mean(), _reward_metrics(chosen_rewards, rejected_rewards)


def rpo_nll_term(chosen_logps: Tensor, chosen_lengths: Tensor, *, alpha: float = 1.0) -> Tensor:
    """The NLL term of RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization"):

        alpha * mean_i [ -log pi(y_w,i | x_i) / |y_w,i| ]

    added to a preference loss (L_RPO = L_DPO + alpha * L_NLL) to keep the chosen responses
    likely. Each pair's NLL is normalized by its own length, then averaged over pairs (TRL's "sft"
    loss type instead averages over all chosen tokens of the batch; the two agree when lengths
    are equal). alpha = 0 gives exactly 0.

    Shapes: `chosen_logps` (B,) summed over completion tokens, `chosen_lengths` (B,); a scalar.
    """
    return alpha * (-chosen_logps / chosen_lengths.clamp(min=1)).mean()


@dataclass(frozen=True, kw_only=True)
class PreferenceLogps:
    """Sequence log-probabilities of one batch of B preference pairs, the input of every loss."""

    chosen: Tensor
    """(B,) log pi(y_w | x) under the policy, summed over completion tokens."""
    rejected: Tensor
    """(B,) log pi(y_l | x) under the policy, summed over completion tokens."""
    chosen_lengths: Tensor
    """(B,) completion tokens of y_w (`completion_lengths`)."""
    rejected_lengths: Tensor
    """(B,) completion tokens of y_l."""
    ref_chosen: Tensor | None = None
    """(B,) log pi_ref(y_w | x); None for reference-free losses (`REFERENCE_FREE`)."""
    ref_rejected: Tensor | None = None
    """(B,) log pi_ref(y_l | x); None for reference-free losses."""

    def reference(self) -> tuple[Tensor, Tensor]:
        """(ref_chosen, ref_rejected); raises ValueError when they were not given."""
        if self.ref_chosen is None or self.ref_rejected is None:
            raise ValueError(
                "this loss needs reference log-probabilities: set PreferenceLogps.ref_chosen and "
                f".ref_rejected, or use a reference-free loss ({', '.join(sorted(REFERENCE_FREE))})"
            )
        return self.ref_chosen, self.ref_rejected


@dataclass(frozen=True, kw_only=True)
class LossHyper:
    """Hyperparameters of the preference losses; each loss reads only the fields it names."""

    beta: float = 0.1
    """Strength of the preference signal against the reference (DPO's beta, IPO's tau); all."""
    label_smoothing: float = 0.0
    """eps in [0, 0.5), the assumed rate of flipped labels: cDPO ("sigmoid") and "robust"."""
    gamma: float = 0.5
    """Target reward margin of "simpo"."""
    alpha: float = 0.0
    """Weight of the RPO NLL term on the chosen response (`rpo_nll_term`); 0 turns it off."""

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise ValueError(f"LossHyper.beta must be > 0, got {self.beta}; 0.1 is usual for DPO")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(
                f"LossHyper.label_smoothing must lie in [0, 0.5), got {self.label_smoothing}; "
                "it is a label-flip rate (0.1 is typical for robust DPO)"
            )
        if not self.alpha >= 0:
            raise ValueError(f"LossHyper.alpha must be >= 0, got {self.alpha}; 0 turns RPO off")


PreferenceLoss = Callable[[PreferenceLogps, LossHyper], tuple[Tensor, Metrics]]
"""A loss as the trainer calls it: (log-probabilities, hyperparameters) -> (loss, metrics)."""

PREFERENCE_LOSSES: Mapping[str, PreferenceLoss] = {
    "sigmoid": lambda lp, h: dpo_loss(
        lp.chosen, lp.rejected, *lp.reference(), beta=h.beta, label_smoothing=h.label_smoothing
    ),
    "ipo": lambda lp, h: ipo_loss(
        lp.chosen,
        lp.rejected,
        *lp.reference(),
        chosen_lengths=lp.chosen_lengths,
        rejected_lengths=lp.rejected_lengths,
        beta=h.beta,
    ),
    "robust": lambda lp, h: robust_dpo_loss(
        lp.chosen, lp.rejected, *lp.reference(), beta=h.beta, label_smoothing=h.label_smoothing
    ),
    "hinge": lambda lp, h: hinge_loss(lp.chosen, lp.rejected, *lp.reference(), beta=h.beta),
    "simpo": lambda lp, h: simpo_loss(
        lp.chosen,
        lp.rejected,
        chosen_lengths=lp.chosen_lengths,
        rejected_lengths=lp.rejected_lengths,
        beta=h.beta,
        gamma=h.gamma,
    ),
}
"""Every preference loss by name; the RPO term is added on top by the trainer:
`loss + rpo_nll_term(lp.chosen, lp.chosen_lengths, alpha=h.alpha)`."""

REFERENCE_FREE = frozenset({"simpo"})
"""Losses in `PREFERENCE_LOSSES` that never read the reference log-probabilities."""
